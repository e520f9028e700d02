"""The SR stage of the cloud: LR uint8 frame -> HR float32 NCHW in [0, 1].

Interpolation baselines run in OpenCV (bilinear/bicubic on uint8, ~1 ms at 1024x512);
learned models (ESPCN, CARN-M base, CARN-M fine-tuned "cloudseg") run through an engine.
A learned x4 model only applies when the frame really is x4 smaller than the target;
any other ratio (the controller may send x2 or full resolution) falls back to bilinear
(or nothing at x1), and the result names what actually ran.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

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

    def upscale_many(self, frames: list[tuple[np.ndarray, int, int]]) -> list[Upscaled]:
        """``upscale`` for several (lr, width, height) frames. A learned model upscales all
        frames of one size in one stacked call (its time divided evenly among them);
        interpolation runs per frame (OpenCV, ~1 ms each: nothing to gain by stacking)."""
        out: list[Upscaled] = []
        learned: dict[tuple[int, ...], list[int]] = {}
        for i, (lr, width, height) in enumerate(frames):
            t0 = time.perf_counter()
            lr_nchw = to_nchw(lr)
            h, w = lr.shape[:2]
            if self.engine is not None and (w * self.scale, h * self.scale) == (width, height):
                learned.setdefault(lr.shape, []).append(i)
                hr, name = lr_nchw, self.name  # a placeholder until the stacked call below
            else:
                hr, name = self.upscale(lr, lr_nchw, width, height)
            out.append(Upscaled(hr, lr_nchw, name, (time.perf_counter() - t0) * 1e3))
        engine = self.engine
        if engine is None:
            return out
        step = engine.max_batch or len(frames)
        for members in learned.values():
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                lrs = [out[i].lr_nchw for i in chunk]
                t0 = time.perf_counter()
                sr = engine.run({"lr": lrs[0] if len(lrs) == 1 else np.concatenate(lrs)})["sr"]
                ms = (time.perf_counter() - t0) * 1e3 / len(chunk)
                for k, i in enumerate(chunk):
                    out[i] = out[i]._replace(hr=sr[k : k + 1], ms=out[i].ms + ms)
        return out


class Upscaled(NamedTuple):
    """One frame upscaled: HR (1, 3, H, W) float32 (None where SR runs fused into the
    segmenter), the LR frame as NCHW, the method that ran, and its time [ms]."""

    hr: np.ndarray | None
    lr_nchw: np.ndarray
    name: str
    ms: float
