"""Segmentation accuracy: a confusion matrix accumulated over frames, and mIoU.

Per-class IoU = TP / (TP + FP + FN) over all accumulated pixels, ignore-labelled pixels
excluded. ``miou`` (every number this project publishes) takes the mean over the classes
that occur in the ground truth: a class never in the ground truth of the accumulated frames
has no IoU, rather than a free 1.0 or a penalising 0.0. Cityscapes' own script
(cityscapesScripts) averages over every class with a non-empty union, so a class that is
only predicted counts as 0: that is ``miou_union``, reported beside it by ``cloudseg eval``
(the evaluation frames have no train and no motorcycle in their ground truth). A predicted id that is no class (the
ignore id 255 a propagated mask may carry, a negative id) is wrong for its pixel:
a false negative of the true class, a true positive of none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cloudseg_ros.scene.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES


@dataclass
class ConfusionMatrix:
    """Accumulates (ground truth, prediction) pixel counts over many frames."""

    num_classes: int = NUM_CLASSES
    matrix: np.ndarray = field(init=False)
    void: np.ndarray = field(init=False)  # per true class: pixels predicted as no class at all

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.void = np.zeros(self.num_classes, dtype=np.int64)

    def update(self, truth: np.ndarray, pred: np.ndarray) -> None:
        """Add one frame. ``truth`` and ``pred`` are (H, W) integer class ids of equal shape."""
        if truth.shape != pred.shape:
            raise ValueError(f"shape mismatch: truth {truth.shape} vs prediction {pred.shape}")
        t = truth.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        valid = (t != IGNORE_ID) & (t >= 0) & (t < self.num_classes)
        t, p = t[valid], p[valid]
        known = (p >= 0) & (p < self.num_classes)
        self.void += np.bincount(t[~known], minlength=self.num_classes)
        t, p = t[known], p[known]
        self.matrix += np.bincount(t * self.num_classes + p, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def merge(self, other: ConfusionMatrix) -> None:
        self.matrix += other.matrix
        self.void += other.void

    @property
    def pixels(self) -> int:
        return int(self.matrix.sum() + self.void.sum())

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for classes absent from both ground truth and predictions."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) + self.void - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def present(self) -> np.ndarray:
        """Classes that occur in the ground truth."""
        return self.matrix.sum(1) + self.void > 0

    def miou(self) -> float:
        """Mean IoU over the classes present in the ground truth (NaN if no pixels)."""
        iou = self.iou()[self.present()]
        return float(np.nanmean(iou)) if iou.size else float("nan")

    def miou_union(self) -> float:
        """Mean IoU over the classes in the ground truth or the predictions (cityscapesScripts'
        rule: a class that is only predicted counts as 0); NaN if no pixels."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.pixels
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def per_class(self) -> dict[str, float]:
        """IoU by class name, for classes present in the ground truth."""
        iou = self.iou()
        names = CLASS_NAMES if self.num_classes == NUM_CLASSES else [str(i) for i in range(self.num_classes)]
        return {names[i]: float(iou[i]) for i in np.flatnonzero(self.present())}


def block_labels(labels: np.ndarray, factor: int, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The labels as a perfect segmenter could place them on a grid ``factor`` times coarser.

    Each ``factor`` x ``factor`` block takes its most frequent class (ignore only where the whole
    block is ignore), then is repeated back to full size. Scored against the full labels it says
    how much a downscaled frame loses of the scene itself, whatever the models: an upper bound
    for the x4 methods' accuracy (up to the sub-block edges a model may still place), and the
    yardstick for a scene that is too easy or a segmenter that does not use the detail it has.
    """
    height, width = labels.shape
    if factor < 1 or height % factor or width % factor:
        raise ValueError(f"labels {width}x{height} do not divide into {factor}x{factor} blocks")
    blocks = labels.reshape(height // factor, factor, width // factor, factor)
    counts = np.stack([(blocks == c).sum(axis=(1, 3)) for c in range(num_classes)])
    coarse = np.where(counts.any(axis=0), counts.argmax(axis=0), IGNORE_ID).astype(labels.dtype)
    return np.repeat(np.repeat(coarse, factor, axis=0), factor, axis=1)
