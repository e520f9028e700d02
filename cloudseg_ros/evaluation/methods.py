"""The upscaling methods of Table 1 and the segmenter, run through engines exactly as the
cloud serves them (float SR frame straight into the segmenter, LR frame into the low branch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cloudseg_ros.engines import create_engine
from cloudseg_ros.engines.export import graph_source
from cloudseg_ros.evaluation.torch_eval import to_uint8
from cloudseg_ros.sr.upscaler import Upscaler
from cloudseg_ros.train.data import to_nchw

# Table 1 rows: row name -> SR method name for Upscaler (None: the HR frame itself).
TABLE1_ROWS = {
    "hr": None,
    "bilinear": "bilinear",
    "bicubic": "bicubic",
    "espcn": "espcn",
    "sr": "sr",
    "cloudseg": "cloudseg",
}


@dataclass
class Segmenter:
    """The key-frame graph of a segmenter checkpoint on one engine."""

    weights: Path
    name: str = "icnet"
    engine: str = "auto"
    num_threads: int = 2
    _engine: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        source = graph_source(self.weights, self.name, "segmenter")
        self._engine = create_engine(source, self.engine, self.num_threads, output_names=["ids", "low"])

    @property
    def engine_name(self) -> str:
        return self._engine.name

    def __call__(self, hr: np.ndarray, lr: np.ndarray) -> np.ndarray:
        """hr float32 NCHW, lr uint8 HWC (as received) -> (H, W) uint8 class ids."""
        return self._engine.run({"hr": hr, "lr": to_nchw(lr)})["ids"][0]


class Method:
    """One row: an upscaler (or the HR frame) producing the segmenter's HR input."""

    def __init__(self, row: str, sr: str | None, weights: Path, engine: str, num_threads: int) -> None:
        self.row = row
        self.upscaler = None if sr is None else Upscaler(sr, engine, num_threads, weights)

    def hr_input(self, lr: np.ndarray, hr: np.ndarray | None, width: int, height: int) -> np.ndarray:
        if self.upscaler is None:
            if hr is None:
                raise ValueError("the hr row needs the HR frame")
            return to_nchw(hr)
        return self.upscaler.upscale(lr, to_nchw(lr), width, height)[0]

    @staticmethod
    def as_image(hr_input: np.ndarray) -> np.ndarray:
        return to_uint8(hr_input)
