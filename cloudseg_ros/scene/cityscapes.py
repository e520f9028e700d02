"""Frames in the Cityscapes directory layout: a writer for synthetic frames and a loader.

Layout (as in the Cityscapes release)::

    root/leftImg8bit/<split>/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png
    root/gtFine/<split>/<city>/<city>_<seq:06d>_<frame:06d>_gtFine_labelTrainIds.png

The loader also accepts real Cityscapes data that ships only ``*_gtFine_labelIds.png``
and converts those to train ids. Where it is used: the camera's ``folder`` source plays
such a tree (labels scored live) and tests read it; ``cloudseg train`` and ``cloudseg eval``
take their frames from the embedded scene's seeds, not from a folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.errors import CloudsegError, ConfigError
from cloudseg_ros.scene.generator import SceneFrame
from cloudseg_ros.scene.labels import LABEL_ID_TO_TRAIN_ID

IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
NOMINAL_FPS = 10.0  # time_s of loaded frames is frame number / this (Cityscapes has no clock)


def frame_stem(city: str, seq: int, frame_idx: int) -> str:
    return f"{city}_{int(seq):06d}_{int(frame_idx):06d}"


def write_cityscapes_frame(
    root: str | Path, split: str, city: str, seq: int, frame_idx: int, image: np.ndarray, labels: np.ndarray
) -> tuple[Path, Path]:
    """Write one RGB image and its train-id label map; returns (image path, label path)."""
    image = np.asarray(image)
    labels = np.asarray(labels)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
        raise ValueError(f"labels must be (H, W) uint8 matching the image, got {labels.shape} {labels.dtype}")
    stem = frame_stem(city, seq, frame_idx)
    img_dir = Path(root) / "leftImg8bit" / split / city
    lab_dir = Path(root) / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    img_path = img_dir / (stem + IMAGE_SUFFIX)
    lab_path = lab_dir / (stem + TRAIN_IDS_SUFFIX)
    if not cv2.imwrite(str(img_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise CloudsegError(f"could not write {img_path}")
    if not cv2.imwrite(str(lab_path), labels):
        raise CloudsegError(f"could not write {lab_path}")
    return img_path, lab_path


class CityscapesDataset:
    """Image/label pairs of one split, in sorted (city, file name) order.

    ``cities``: restrict to these city folders. Raises ConfigError if the root or split is
    missing or empty, and CloudsegError naming any image that has no label file unless
    ``require_labels`` is off (a camera plays unlabelled images; their frames have no labels).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        cities: Iterable[str] | None = None,
        require_labels: bool = True,
    ) -> None:
        self.root = Path(root)
        self.split = split
        img_root = self.root / "leftImg8bit" / split
        if not self.root.is_dir():
            raise ConfigError(f"Cityscapes root {self.root} does not exist")
        if not img_root.is_dir():
            raise ConfigError(f"Cityscapes split folder {img_root} does not exist")
        available = sorted(p.name for p in img_root.iterdir() if p.is_dir())
        chosen = available if cities is None else sorted(set(cities))
        unknown = [c for c in chosen if c not in available]
        if unknown:
            raise ConfigError(f"cities {unknown} not found under {img_root} (have: {available})")
        self.items: list[tuple[Path, Path | None, bool]] = []  # (image, label, label holds train ids)
        for city in chosen:
            for img in sorted((img_root / city).glob("*" + IMAGE_SUFFIX)):
                stem = img.name[: -len(IMAGE_SUFFIX)]
                lab_dir = self.root / "gtFine" / split / city
                train_ids, label_ids = (
                    lab_dir / (stem + TRAIN_IDS_SUFFIX),
                    lab_dir / (stem + LABEL_IDS_SUFFIX),
                )
                if train_ids.is_file():
                    self.items.append((img, train_ids, True))
                elif label_ids.is_file():
                    self.items.append((img, label_ids, False))
                elif not require_labels:
                    self.items.append((img, None, False))
                else:
                    raise CloudsegError(
                        f"image {img} has no label file ({train_ids.name} or {label_ids.name})"
                    )
        if not self.items:
            raise ConfigError(f"no *{IMAGE_SUFFIX} images under {img_root}")

    def __len__(self) -> int:
        return len(self.items)

    def name(self, i: int) -> str:
        """The frame's stem, e.g. ``synth0_000000_000012``."""
        return self.items[i][0].name[: -len(IMAGE_SUFFIX)]

    def __getitem__(self, i: int) -> SceneFrame:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} frames")
        i %= len(self)
        img_path, lab_path, is_train_ids = self.items[i]
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CloudsegError(f"cannot read image {img_path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if lab_path is None:
            return SceneFrame(rgb, None, i, self._time_s(i))  # type: ignore[arg-type]
        labels = _read_label_png(lab_path)
        if labels.shape != bgr.shape[:2]:
            raise CloudsegError(f"label file {lab_path} is {labels.shape}, image is {bgr.shape[:2]}")
        if not is_train_ids:
            labels = LABEL_ID_TO_TRAIN_ID[labels]
        return SceneFrame(rgb, labels, i, self._time_s(i))

    def _time_s(self, i: int) -> float:
        try:
            return int(self.name(i).rsplit("_", 1)[-1]) / NOMINAL_FPS
        except ValueError:
            return 0.0


def _read_label_png(path: Path) -> np.ndarray:
    """Class ids of a label PNG: 8-bit grey or palette (its indices: cv2 would expand a palette
    to colours); anything else is refused naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = image.mode
            labels = np.array(image) if mode in ("L", "P") else None
    except (OSError, UnidentifiedImageError) as exc:
        raise CloudsegError(f"cannot read label file {path}: {exc}") from None
    if labels is None:
        raise CloudsegError(
            f"label file {path} is not a single-channel 8-bit PNG (mode {mode}; grey or palette)"
        )
    return labels
