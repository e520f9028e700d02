"""The cloud's inference pipeline: LR frame in, HR class-id mask out.

``process`` = SR (LR -> HR) + ICNet-style segmentation fed with BOTH the SR frame (mid and
high branches) and the received LR frame (low branch; data reuse, CloudSeg §3.2). Per
robot, the deep low-branch features of the last KEY frame are kept; a USEFUL frame reuses
them and runs only the light HR branches (key-frame feature reuse).

``process_batch`` serves frames of several robots at once: frames that need the same graph
at the same HR size are stacked along the batch axis into one engine call.

With a learned SR model on a GPU engine, x4 frames are served by SR fused with the
segmenter into one graph (``fuse``): the HR float frame never crosses back to the host
between two engine calls (bench/models.py on an H200, torch FP16 at 2048x1024: 5.3 ms fused
vs 3.7 + 5.1 ms as two calls; bench/batch.py: 3.9 vs 36.5 ms per frame in batches of 4).
On ONNX Runtime CPU fusing gains nothing (key frames) or loses (useful
frames, +10%), so "auto" fuses on GPU engines only. A fused frame's ``sr_ms`` is only its
conversion; ``segment_ms`` covers SR and segmentation together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from cloudseg_ros.engines import FUSE_MODES, Engine, create_engine
from cloudseg_ros.engines.export import fused_sources, graph_source
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.checkpoint import read_metadata, weights_dir
from cloudseg_ros.sr.upscaler import Upscaled, Upscaler
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
    batch_size: int = 1  # frames in the engine call that segmented this one
    fused: bool = False  # SR ran inside the segmentation call (segment_ms covers both)


class BatchItem(NamedTuple):
    """One frame for :meth:`CloudPipeline.process_batch` (the arguments of ``process``)."""

    lr_rgb: np.ndarray
    hr_width: int
    hr_height: int
    selection: str = "key"
    robot_id: str = "car1"
    key_frame_features: KeyFrameFeatures | None = None


def tuned_for_another(weights: Path, sr_name: str, segmenter: str) -> str | None:
    """Why ``sr_name`` was fine-tuned through another segmenter than the one served, or None.

    Analytics-aware fine-tuning fits the SR model to one segmenter (§3.1); one retrained
    later serves with an SR model tuned for the other. A fine-tuned model records the sha256
    of the segmenter it was tuned through (models trained before that record only its name:
    nothing to compare)."""
    from cloudseg_ros.engines.tensorrt_engine import file_sha256

    try:
        recorded = (
            read_metadata(weights, sr_name).get("training", {}).get("summary", {}).get("segmenter_sha256")
        )
    except (ConfigError, OSError, ValueError):
        return None
    pt = Path(weights) / f"{segmenter}.pt"
    if not recorded or not pt.is_file():
        return None
    if file_sha256(pt) == recorded:
        return None
    return (
        f"sr_model {sr_name} was fine-tuned through another segmenter than {pt} (sha256 {recorded[:12]}... "
        f"recorded): fine-tune it again against this one (cloudseg train finetune --set segmenter={pt})"
    )


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
        fp16: bool = True,
        fuse: str = "auto",
    ) -> None:
        self.weights = _resolve(weights_dir)
        # fp16: TensorRT and torch on CUDA run half precision (ignored on CPU engines).
        options = {"force_engine_update": force_engine_update, "fp16": fp16}
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
        if (why := tuned_for_another(self.weights, self.upscaler.name, segmenter)) is not None:
            log.warning(why)
        if fuse not in FUSE_MODES:
            raise ConfigError(f"fuse must be one of {', '.join(FUSE_MODES)}, got {fuse!r}")
        self.fused: dict[str, Engine] | None = None  # "key" / "decode" engines of SR + segmenter
        sr_engine = self.upscaler.engine
        if sr_engine is not None and fuse == "on":
            self.fused = self._fused_engines(segmenter, engine, num_threads, options)
        elif sr_engine is not None and fuse == "auto" and sr_engine.on_gpu:
            try:
                self.fused = self._fused_engines(segmenter, engine, num_threads, options)
            except (ConfigError, OSError) as exc:
                # auto: fusing is a speed-up, not a requirement (an ONNX-only weights folder
                # has no checkpoints to fuse; a read-only cache cannot hold the export).
                log.warning("serving SR and segmenter unfused: %s", exc)
        self._state: dict[str, KeyFrameFeatures] = {}
        self._lock = threading.Lock()

    def _fused_engines(
        self, segmenter: str, engine: str, num_threads: int, options: dict
    ) -> dict[str, Engine]:
        """Engines of the fused graphs; a cached export that does not load (a disk error,
        an interrupted copy) is exported again once instead of stopping the cloud."""
        outputs = {"key": ["ids", "low"], "decode": ["ids"]}

        def load(sources: dict) -> dict[str, Engine]:
            return {g: create_engine(sources[g], engine, num_threads, outputs[g], **options) for g in outputs}

        sources = fused_sources(self.weights, self.upscaler.name, segmenter)
        try:
            return load(sources)
        except ConfigError as exc:
            log.warning("cached fused graph unusable (%s); exporting it again", exc)
            for source in sources.values():
                source.onnx_path.unlink(missing_ok=True)
        return load(fused_sources(self.weights, self.upscaler.name, segmenter))

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
        item = BatchItem(lr_rgb, hr_width, hr_height, selection, robot_id, key_frame_features)
        return self.process_batch([item])[0]

    def process_batch(self, items: Sequence[BatchItem | tuple]) -> list[PipelineResult]:
        """Segment several frames (of any robots) with as few engine calls as possible.

        Each item is a :class:`BatchItem` or a tuple in its field order
        ``(lr_rgb, hr_width, hr_height, selection, robot_id[, key_frame_features])``.
        Frames that can share one call are stacked along the batch axis: key frames (and
        useful frames without usable state) of the same HR size share a key-graph call,
        useful frames reusing stored features of the same HR size share a decode call.
        The results, in input order, are exactly those of calling :meth:`process` on the
        items one after the other: several frames of ONE robot are served in successive
        rounds, so a useful frame sees the state a key frame before it stored.

        Timings are amortised: ``segment_ms`` is its engine call's time divided by the
        frames in that call (``batch_size``), ``sr_ms`` the frame's own upscaling time (a
        learned SR call shared by several frames is divided evenly too), so the per-frame
        times of a batch add up to the time the batch took.
        """
        jobs = [_check(BatchItem(*item)) for item in items]
        for job in jobs:
            self.check_size(job.hr_width, job.hr_height)
        results: list[PipelineResult | None] = [None] * len(jobs)
        for round_ in _rounds(jobs):
            for index, result in zip(round_, self._run_round([jobs[i] for i in round_]), strict=True):
                results[index] = result
        return results  # type: ignore[return-value]

    def _fuses(self, job: BatchItem) -> bool:
        """The fused graphs serve a frame exactly x4 smaller than its HR size."""
        h, w = job.lr_rgb.shape[:2]
        return self.fused is not None and (w * SCALE, h * SCALE) == (job.hr_width, job.hr_height)

    def _upscale(self, jobs: list[BatchItem], fused: list[bool]) -> list[Upscaled]:
        """Upscaled frames; a frame for the fused graphs gets no HR (its SR runs in them)."""
        direct = [i for i, f in enumerate(fused) if not f]
        frames = [(jobs[i].lr_rgb, jobs[i].hr_width, jobs[i].hr_height) for i in direct]
        out: dict[int, Upscaled] = dict(zip(direct, self.upscaler.upscale_many(frames), strict=True))
        for i in (i for i, f in enumerate(fused) if f):
            t0 = time.perf_counter()
            lr_nchw = to_nchw(jobs[i].lr_rgb)
            out[i] = Upscaled(None, lr_nchw, self.upscaler.name, (time.perf_counter() - t0) * 1e3)
        return [out[i] for i in range(len(jobs))]

    def _run_round(self, jobs: list[BatchItem]) -> list[PipelineResult]:
        """One frame per robot at most: every frame's state is read before any is written."""
        fused = [self._fuses(job) for job in jobs]
        upscaled = self._upscale(jobs, fused)
        lows, sr_ms = [], []
        for job, up in zip(jobs, upscaled, strict=True):
            t0 = time.perf_counter()
            lows.append(_low_input(job, up.lr_nchw))
            sr_ms.append(up.ms + (time.perf_counter() - t0) * 1e3)
        states = []
        with self._lock:
            for job in jobs:
                state = job.key_frame_features
                if state is None and job.selection == "useful":
                    state = self._state.get(job.robot_id)
                states.append(state)
        reuse = [
            job.selection == "useful" and state is not None and state.hr_size == (job.hr_width, job.hr_height)
            for job, state in zip(jobs, states, strict=True)
        ]
        groups: dict[tuple[bool, bool, int, int], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault((fused[i], reuse[i], job.hr_width, job.hr_height), []).append(i)
        ids: list[np.ndarray | None] = [None] * len(jobs)
        segment_ms = [0.0] * len(jobs)
        batch_size = [1] * len(jobs)
        for (fuse, decode, width, height), members in groups.items():
            graphs = self.fused if fuse else {"key": self.key_engine, "decode": self.decode_engine}
            engine = graphs["decode" if decode else "key"]
            for chunk in _chunks(members, engine.max_batch):
                # A fused graph upscales the LR frame itself (x4: also the low branch's input).
                feeds = {} if fuse else {"hr": _stack([upscaled[i].hr for i in chunk])}
                if fuse or not decode:
                    feeds["lr"] = _stack([lows[i] for i in chunk])
                if decode:
                    feeds["low"] = _stack([states[i].low for i in chunk])
                t0 = time.perf_counter()
                out = engine.run(feeds)
                ms = (time.perf_counter() - t0) * 1e3 / len(chunk)
                for k, i in enumerate(chunk):
                    ids[i] = out["ids"][k]
                    segment_ms[i], batch_size[i] = ms, len(chunk)
                    if not decode:  # a key frame's own features, not a view of the batch
                        low = out["low"] if len(chunk) == 1 else out["low"][k : k + 1].copy()
                        states[i] = KeyFrameFeatures(low, (width, height))
        with self._lock:
            for job, state, reused in zip(jobs, states, reuse, strict=True):
                if not reused and (job.selection == "key" or job.robot_id not in self._state):
                    self._state[job.robot_id] = state
        return [
            PipelineResult(
                class_ids=np.ascontiguousarray(ids[i], dtype=np.uint8),
                sr_ms=sr_ms[i],
                segment_ms=segment_ms[i],
                sr_model=upscaled[i].name,
                segmenter=self.segmenter,
                engine=self.engine,
                reused_key_features=reuse[i],
                key_frame_features=states[i],
                batch_size=batch_size[i],
                fused=fused[i],
            )
            for i in range(len(jobs))
        ]

    def warm_up(self, hr_width: int = 256, hr_height: int = 128) -> float:
        """Run every graph once on blank frames (x4 and x2, key and useful), then forget
        them; returns the seconds it took. Call it from the thread that will serve: a GPU
        engine's first call in a thread loads kernels and creates library handles (0.6-1.9 s
        on an H200), which must not land on a robot's first frames."""
        t0 = time.perf_counter()
        robot = "\x00warm-up"  # no robot id can hold a NUL
        for factor in (SCALE, SCALE // 2):
            lr = np.zeros((hr_height // factor, hr_width // factor, 3), np.uint8)
            for selection in SELECTIONS:
                self.process(lr, hr_width, hr_height, selection=selection, robot_id=robot)
        self.forget(robot)
        return time.perf_counter() - t0

    def forget(self, robot_id: str) -> None:
        """Drop the robot's key-frame state (robot left, stream restarted)."""
        with self._lock:
            self._state.pop(robot_id, None)

    def robots(self) -> list[str]:
        with self._lock:
            return sorted(self._state)


def _check(job: BatchItem) -> BatchItem:
    if job.selection not in SELECTIONS:
        raise ConfigError(f"selection must be one of {SELECTIONS}, got {job.selection!r}")
    lr = job.lr_rgb
    if lr.ndim != 3 or lr.shape[2] != 3 or lr.dtype != np.uint8:
        raise ConfigError(f"expected an (h, w, 3) uint8 RGB frame, got {lr.shape} {lr.dtype}")
    return job


def _rounds(jobs: list[BatchItem]) -> list[list[int]]:
    """Indices of ``jobs`` split so that each round holds at most one frame per robot, in order."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, job in enumerate(jobs):
        n = seen[job.robot_id] = seen.get(job.robot_id, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return rounds


def _chunks(members: list[int], size: int | None) -> list[list[int]]:
    if not size or size >= len(members):
        return [members]
    return [members[i : i + size] for i in range(0, len(members), size)]


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """(1, C, H, W) arrays -> (N, C, H, W); a single one is passed through untouched."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)


def _low_input(job: BatchItem, lr_nchw: np.ndarray) -> np.ndarray:
    low_size = (job.hr_width // SCALE, job.hr_height // SCALE)
    if job.lr_rgb.shape[1::-1] == low_size:
        return lr_nchw  # data reuse: the received frame IS the low branch's input
    # Another ratio (a controller knob): what the robot's x4 downscale would give.
    return to_nchw(cv2.resize(job.lr_rgb, low_size, interpolation=cv2.INTER_AREA))


def _resolve(path: str | Path | None) -> Path:
    directory = weights_dir(path)
    if not directory.is_dir():
        raise ConfigError(f"weights directory not found: {directory}")
    return directory
