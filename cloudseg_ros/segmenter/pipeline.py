"""The cloud's inference pipeline: LR frame in, HR class-id mask out.

``process`` = SR (LR -> HR) + ICNet-style segmentation fed with BOTH the SR frame (mid and
high branches) and the received LR frame (low branch; data reuse, CloudSeg §3.2). Per
robot, the deep low-branch features of the last KEY frame are kept; a USEFUL frame reuses
them and runs only the light HR branches (key-frame feature reuse).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.engines import create_engine
from cloudseg_ros.engines.export import graph_source
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.checkpoint import read_metadata, weights_dir
from cloudseg_ros.sr.upscaler import Upscaler
from cloudseg_ros.train.data import to_nchw

log = logging.getLogger(__name__)

SCALE = 4  # the low branch's input is 1/4 of HR
SELECTIONS = ("key", "useful")


@dataclass(frozen=True)
class KeyFrameFeatures:
    """Deep LR features of one key frame, valid only for frames of the same HR size."""

    low: np.ndarray
    hr_size: tuple[int, int]  # (width, height)


@dataclass
class PipelineResult:
    class_ids: np.ndarray  # (hr_height, hr_width) uint8 train ids
    sr_ms: float
    segment_ms: float
    sr_model: str
    segmenter: str
    engine: str
    reused_key_features: bool
    key_frame_features: KeyFrameFeatures | None = field(default=None, repr=False)


class CloudPipeline:
    """SR + segmentation with per-robot key-frame state. Thread-safe: engines are
    re-entrant and the per-robot state is locked."""

    def __init__(
        self,
        sr_model: str = "bilinear",
        segmenter: str = "icnet",
        engine: str = "auto",
        num_threads: int = 2,
        weights_dir: str | Path | None = None,
        force_engine_update: bool = False,
    ) -> None:
        self.weights = _resolve(weights_dir)
        options = {"force_engine_update": force_engine_update}
        meta = read_metadata(self.weights, segmenter)
        if meta.get("role") != "segmenter":
            raise ConfigError(f"{segmenter!r} in {self.weights} is not a segmenter")
        self.multiple = int(meta.get("multiple", 32))
        self.segmenter = segmenter
        self.key_engine = create_engine(
            graph_source(self.weights, segmenter, "segmenter"), engine, num_threads, ["ids", "low"], **options
        )
        self.decode_engine = create_engine(
            graph_source(self.weights, segmenter, "decode"), engine, num_threads, ["ids"], **options
        )
        self.upscaler = Upscaler(sr_model, engine, num_threads, self.weights, SCALE, **options)
        self._state: dict[str, KeyFrameFeatures] = {}
        self._lock = threading.Lock()

    @property
    def engine(self) -> str:
        return self.key_engine.name

    def check_size(self, hr_width: int, hr_height: int) -> None:
        """HR sizes must be multiples of the segmenter's output stride (32)."""
        m = self.multiple
        if hr_width <= 0 or hr_height <= 0 or hr_width % m or hr_height % m:
            raise ConfigError(
                f"HR size {hr_width}x{hr_height} is not a multiple of {m} (the segmenter's stride)"
            )

    def process(
        self,
        lr_rgb: np.ndarray,
        hr_width: int,
        hr_height: int,
        key_frame_features: KeyFrameFeatures | None = None,
        selection: str = "key",
        robot_id: str = "car1",
    ) -> PipelineResult:
        """Segment one received frame at (hr_width, hr_height). ``key_frame_features``
        overrides the robot's stored state; a USEFUL frame reuses the state when its size
        matches, else (no key frame yet) it is processed like a key frame."""
        if selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        if lr_rgb.ndim != 3 or lr_rgb.shape[2] != 3 or lr_rgb.dtype != np.uint8:
            raise ConfigError(f"expected an (h, w, 3) uint8 RGB frame, got {lr_rgb.shape} {lr_rgb.dtype}")
        self.check_size(hr_width, hr_height)
        start = time.perf_counter()
        lr_nchw = to_nchw(lr_rgb)
        hr, sr_name = self.upscaler.upscale(lr_rgb, lr_nchw, hr_width, hr_height)
        low_size = (hr_width // SCALE, hr_height // SCALE)
        if lr_rgb.shape[1::-1] == low_size:
            low_in = lr_nchw  # data reuse: the received frame IS the low branch's input
        else:  # another ratio (a controller knob): what the robot's x4 downscale would give
            low_in = to_nchw(cv2.resize(lr_rgb, low_size, interpolation=cv2.INTER_AREA))
        mid = time.perf_counter()
        state = key_frame_features
        if state is None and selection == "useful":
            with self._lock:
                state = self._state.get(robot_id)
        reuse = selection == "useful" and state is not None and state.hr_size == (hr_width, hr_height)
        if reuse:
            ids = self.decode_engine.run({"hr": hr, "low": state.low})["ids"]
        else:
            out = self.key_engine.run({"hr": hr, "lr": low_in})
            ids, state = out["ids"], KeyFrameFeatures(out["low"], (hr_width, hr_height))
            with self._lock:
                if selection == "key" or robot_id not in self._state:
                    self._state[robot_id] = state
        end = time.perf_counter()
        return PipelineResult(
            class_ids=np.ascontiguousarray(ids[0], dtype=np.uint8),
            sr_ms=(mid - start) * 1e3,
            segment_ms=(end - mid) * 1e3,
            sr_model=sr_name,
            segmenter=self.segmenter,
            engine=self.engine,
            reused_key_features=reuse,
            key_frame_features=state,
        )

    def forget(self, robot_id: str) -> None:
        """Drop the robot's key-frame state (robot left, stream restarted)."""
        with self._lock:
            self._state.pop(robot_id, None)

    def robots(self) -> list[str]:
        with self._lock:
            return sorted(self._state)


def _resolve(path: str | Path | None) -> Path:
    directory = weights_dir(path)
    if not directory.is_dir():
        raise ConfigError(f"weights directory not found: {directory}")
    return directory
