"""The SR stage of the cloud: LR uint8 frame -> HR float32 NCHW in [0, 1].

Interpolation baselines run in OpenCV (bilinear/bicubic on uint8, ~1 ms at 1024x512);
learned models (ESPCN, CARN-M base, CARN-M fine-tuned "cloudseg") run through an engine.
A learned x4 model only applies when the frame really is x4 smaller than the target;
any other ratio (the controller may send x2 or full resolution) falls back to bilinear
(or nothing at x1), and the result names what actually ran.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.engines import Engine, create_engine
from cloudseg_ros.engines.export import graph_source
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.train.data import to_nchw

INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
# User-facing names -> checkpoint names in the weights directory.
LEARNED = {"espcn": "espcn", "carn_m": "carn_m", "sr": "carn_m", "cloudseg": "carn_m_cloudseg"}
LEARNED["carn_m_cloudseg"] = "carn_m_cloudseg"
SR_NAMES = tuple(INTERPOLATIONS) + tuple(LEARNED)


class Upscaler:
    """One SR method; ``upscale`` returns (HR float32 NCHW, name of the method that ran)."""

    def __init__(
        self,
        name: str,
        engine: str = "auto",
        num_threads: int = 2,
        weights: Path | None = None,
        scale: int = 4,
        **engine_options: object,
    ) -> None:
        self.scale = scale
        self.engine: Engine | None = None
        if name in INTERPOLATIONS:
            self.name = name
            return
        self.name = LEARNED.get(name, name)  # any other SR checkpoint in ``weights`` works too
        if weights is None or not (Path(weights) / f"{self.name}.json").is_file():
            raise ConfigError(
                f"unknown sr_model {name!r} (no {self.name}.json in {weights}); known: {', '.join(SR_NAMES)}"
            )
        source = graph_source(weights, self.name, "sr")
        self.engine = create_engine(source, engine, num_threads, output_names=["sr"], **engine_options)

    def upscale(self, lr: np.ndarray, lr_nchw: np.ndarray, width: int, height: int) -> tuple[np.ndarray, str]:
        h, w = lr.shape[:2]
        if (w, h) == (width, height):
            return lr_nchw, "none"
        if self.engine is not None and (w * self.scale, h * self.scale) == (width, height):
            return self.engine.run({"lr": lr_nchw})["sr"], self.name
        method = self.name if self.name in INTERPOLATIONS else "bilinear"
        return to_nchw(cv2.resize(lr, (width, height), interpolation=INTERPOLATIONS[method])), method
