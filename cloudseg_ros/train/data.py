"""Training data from the embedded driving scene: rendered once, cached on disk, cropped
in memory.

Every sample is produced exactly as on the robot: the LR frame is the INTER_AREA x4
downscale of the HR frame (``cloudseg_ros.imaging.resize.downscale`` when available).
Crops are aligned to multiples of the scale, so cropping the LR frame of the whole image
equals downscaling the HR crop (INTER_AREA with an integer factor is a box filter).

Training uses scene seeds from one range (configs use 0-199); evaluation uses held-out
seeds (>= 1000). :func:`check_disjoint` refuses overlap.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

SCALE = 4


def downscale(rgb: np.ndarray, factor: int = SCALE) -> np.ndarray:
    """The robot's downscale: the codec module's when it exists, else the same cv2 call."""
    try:
        from cloudseg_ros.imaging.resize import downscale as robot_downscale
    except ImportError:
        h, w = rgb.shape[:2]
        return cv2.resize(rgb, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return robot_downscale(rgb, factor)


def cache_dir() -> Path:
    """Where rendered frames are kept: $CLOUDSEG_CACHE or ~/.cache/cloudseg_ros."""
    root = os.environ.get("CLOUDSEG_CACHE") or Path.home() / ".cache" / "cloudseg_ros"
    return Path(root) / "frames"


@dataclass(frozen=True)
class FrameSpec:
    """Which frames to render: scene seeds x frame indices, at one size and scene variant."""

    seeds: tuple[int, ...]
    frames: tuple[int, ...] = (0,)
    width: int = 1024
    height: int = 512
    variant: str = "default"

    @classmethod
    def from_config(cls, cfg: dict) -> FrameSpec:
        seeds = cfg["seeds"]
        if isinstance(seeds, dict):  # {start, stop}: a range, as written in the YAML configs
            seeds = range(int(seeds["start"]), int(seeds["stop"]))
        return cls(
            seeds=tuple(int(s) for s in seeds),
            frames=tuple(int(f) for f in cfg.get("frames", (0,))),
            width=int(cfg.get("width", 1024)),
            height=int(cfg.get("height", 512)),
            variant=str(cfg.get("variant", "default")),
        )

    def items(self) -> list[tuple[int, int]]:
        return [(s, f) for s in self.seeds for f in self.frames]


def check_disjoint(train_seeds: Iterable[int], eval_seeds: Iterable[int]) -> None:
    """Evaluating on a training seed would measure memorisation: refuse it. Seeds are compared
    as the scene uses them (modulo 2**64: seed -1 renders the frames of 2**64 - 1)."""
    scene_seed = {int(s) % (1 << 64): int(s) for s in eval_seeds}
    common = sorted(scene_seed[t] for t in {int(t) % (1 << 64) for t in train_seeds} & set(scene_seed))
    if common:
        from cloudseg_ros.errors import ConfigError

        raise ConfigError(f"evaluation seeds {common[:5]} were used for training; use held-out seeds")


def render(seed: int, index: int, width: int, height: int, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """One scene frame (RGB uint8, train-id labels), rendered or read from the disk cache."""
    from cloudseg_ros.scene import DrivingScene

    key = f"{variant}-{width}x{height}-{seed}-{index}"
    path = cache_dir() / f"{key}-{_scene_version()}.npz"
    if path.exists():
        try:
            with np.load(path) as data:
                return data["image"], data["labels"]
        except (OSError, ValueError, KeyError):
            log.warning("re-rendering unreadable cache file %s", path)
    frame = DrivingScene(seed, width=width, height=height, variant=variant).render(index)
    image, labels = np.ascontiguousarray(frame.image), np.ascontiguousarray(frame.labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, image=image, labels=labels)
    tmp.replace(path)
    return image, labels


def _scene_version() -> str:
    """Hash of the scene package's sources: a changed scene invalidates the frame cache."""
    if not hasattr(_scene_version, "value"):
        import cloudseg_ros.scene as scene

        digest = hashlib.sha256()
        for src in sorted(Path(scene.__file__).parent.rglob("*.py")):
            digest.update(src.read_bytes())
        _scene_version.value = digest.hexdigest()[:12]  # type: ignore[attr-defined]
    return _scene_version.value  # type: ignore[attr-defined]


class FrameBank:
    """All frames of a :class:`FrameSpec` in memory as (HR, LR, labels) uint8 arrays."""

    def __init__(self, spec: FrameSpec, progress: bool = True) -> None:
        self.spec = spec
        self.hr: list[np.ndarray] = []
        self.lr: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        items = spec.items()
        for n, (seed, index) in enumerate(items):
            image, labels = render(seed, index, spec.width, spec.height, spec.variant)
            self.hr.append(image)
            self.lr.append(downscale(image, SCALE))
            self.labels.append(labels)
            if progress and (n + 1) % 50 == 0:
                log.info("frames ready: %d/%d", n + 1, len(items))

    @classmethod
    def from_arrays(cls, images: list[np.ndarray], labels: list[np.ndarray]) -> FrameBank:
        """A bank over given frames (tests, real datasets): no rendering."""
        bank = cls.__new__(cls)
        h, w = images[0].shape[:2]
        bank.spec = FrameSpec(seeds=(), width=w, height=h)
        bank.hr = list(images)
        bank.lr = [downscale(im, SCALE) for im in images]
        bank.labels = list(labels)
        return bank

    def __len__(self) -> int:
        return len(self.hr)

    def class_frequencies(self, num_classes: int) -> np.ndarray:
        counts = np.zeros(num_classes, dtype=np.int64)
        for labels in self.labels:
            counts += np.bincount(labels.ravel(), minlength=256)[:num_classes]
        return counts / max(1, counts.sum())


@dataclass
class Batch:
    """Float32 NCHW tensors in [0, 1] (hr, lr) and int64 labels (N, H, W) with 255 = ignore."""

    hr: np.ndarray
    lr: np.ndarray
    labels: np.ndarray


class CropSampler:
    """Random scale-aligned crops of the bank with horizontal flips; seeded and endless.

    With ``rare_fraction`` > 0, that share of crops is centred on a pixel of a class drawn
    uniformly among the rare ones (pixel frequency below ``rare_below``): walls, fences,
    riders, bicycles cover <0.1% of pixels and would otherwise be seen a handful of times.
    """

    def __init__(
        self,
        bank: FrameBank,
        crop: tuple[int, int],
        batch_size: int,
        seed: int,
        rare_fraction: float = 0.0,
        rare_below: float = 0.02,
    ) -> None:
        self.bank = bank
        self.crop_w, self.crop_h = (int(crop[0]), int(crop[1]))
        if self.crop_w % SCALE or self.crop_h % SCALE:
            raise ValueError(f"crop {crop} must be a multiple of the scale {SCALE}")
        if self.crop_w > bank.spec.width or self.crop_h > bank.spec.height:
            raise ValueError(f"crop {crop} larger than the frames ({bank.spec.width}x{bank.spec.height})")
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.rare_fraction = float(rare_fraction)
        self.anchors = self._rare_anchors(rare_below) if self.rare_fraction > 0 else {}

    def _rare_anchors(self, rare_below: float, per_frame: int = 32) -> dict[int, np.ndarray]:
        """Rare class -> (n, 3) array of (frame, y, x) pixels of that class."""
        freq = self.bank.class_frequencies(256)
        rare = [c for c in range(255) if 0 < freq[c] < rare_below]
        found: dict[int, list[np.ndarray]] = {c: [] for c in rare}
        for k, labels in enumerate(self.bank.labels):
            for c in rare:
                ys, xs = np.nonzero(labels == c)
                if ys.size:
                    pick = self.rng.choice(ys.size, size=min(per_frame, ys.size), replace=False)
                    found[c].append(np.stack([np.full(pick.size, k), ys[pick], xs[pick]], axis=1))
        return {c: np.concatenate(v) for c, v in found.items() if v}

    def _origin(self, k: int, height: int, width: int) -> tuple[int, int]:
        x = int(self.rng.integers(0, (width - self.crop_w) // SCALE + 1)) * SCALE
        y = int(self.rng.integers(0, (height - self.crop_h) // SCALE + 1)) * SCALE
        return x, y

    def _pick(self) -> tuple[int, int, int]:
        """(frame, x, y) of the next crop's top-left corner."""
        if self.anchors and self.rng.random() < self.rare_fraction:
            classes = sorted(self.anchors)
            pixels = self.anchors[classes[int(self.rng.integers(len(classes)))]]
            k, py, px = (int(v) for v in pixels[int(self.rng.integers(len(pixels)))])
            h, w = self.bank.hr[k].shape[:2]
            # Anywhere in the crop, not always the centre: the class must not learn a position.
            x = int(np.clip(px - self.rng.integers(0, self.crop_w), 0, w - self.crop_w)) // SCALE * SCALE
            y = int(np.clip(py - self.rng.integers(0, self.crop_h), 0, h - self.crop_h)) // SCALE * SCALE
            return k, x, y
        k = int(self.rng.integers(len(self.bank)))
        return (k, *self._origin(k, *self.bank.hr[k].shape[:2]))

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, x, y = self._pick()
        hr, lr, labels = self.bank.hr[k], self.bank.lr[k], self.bank.labels[k]
        hr_c = hr[y : y + self.crop_h, x : x + self.crop_w]
        lab_c = labels[y : y + self.crop_h, x : x + self.crop_w]
        lr_c = lr[y // SCALE : (y + self.crop_h) // SCALE, x // SCALE : (x + self.crop_w) // SCALE]
        if self.rng.random() < 0.5:
            hr_c, lr_c, lab_c = hr_c[:, ::-1], lr_c[:, ::-1], lab_c[:, ::-1]
        return hr_c, lr_c, lab_c

    def __iter__(self) -> Iterator[Batch]:
        while True:
            samples = [self.sample() for _ in range(self.batch_size)]
            yield Batch(
                hr=to_nchw([s[0] for s in samples]),
                lr=to_nchw([s[1] for s in samples]),
                labels=np.stack([s[2] for s in samples]).astype(np.int64),
            )


def to_nchw(images: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """uint8 HWC image(s) -> float32 NCHW in [0, 1]."""
    arr = np.stack(images) if isinstance(images, list) else images[None]
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1 / 255)
