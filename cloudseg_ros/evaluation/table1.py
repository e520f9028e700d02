"""Table 1: segmentation accuracy and image quality per upsampling method, on held-out
frames, plus the per-method outputs of one frame for the side-by-side picture."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cloudseg_ros.evaluation.frames import EvalFrame
from cloudseg_ros.evaluation.methods import Method, Segmenter
from cloudseg_ros.metrics import ConfusionMatrix, block_labels, psnr, ssim

log = logging.getLogger(__name__)

SMALL = ("person", "pole", "traffic_sign", "traffic_light")


def evaluate_rows(
    frames: list[EvalFrame],
    rows: dict[str, str | None],
    segmenter: Segmenter,
    sr_weights: Path,
    engine: str = "auto",
    num_threads: int = 2,
    keep_frame: int | None = None,
) -> tuple[dict[str, dict], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Metrics per row; and for frame ``keep_frame`` each row's (input image, mask)."""
    height, width = frames[0].labels.shape
    results, kept = {}, {}
    for row, sr in rows.items():
        method = Method(row, sr, sr_weights, engine, num_threads)
        cm = ConfusionMatrix()
        psnrs, ssims = [], []
        for k, f in enumerate(frames):
            hr_in = method.hr_input(f.lr, f.hr, width, height)
            ids = segmenter(hr_in, f.lr)
            cm.update(f.labels, ids)
            if sr is not None:
                image = method.as_image(hr_in)
                psnrs.append(psnr(f.hr, image))
                ssims.append(ssim(f.hr, image))
            if k == keep_frame:
                kept[row] = (f.hr if sr is None else method.as_image(hr_in), ids)
        per_class = cm.per_class()
        results[row] = {
            "miou": cm.miou(),
            "miou_union": cm.miou_union(),  # cityscapesScripts' mean (metrics.segmentation)
            "per_class": per_class,
            **{c: per_class.get(c) for c in SMALL},
            "psnr": float(np.mean(psnrs)) if psnrs else None,
            "ssim": float(np.mean(ssims)) if ssims else None,
        }
        log.info(
            "table1 %-10s mIoU %.4f (over classes predicted too %.4f) person %s pole %s psnr %s",
            row,
            cm.miou(),
            cm.miou_union(),
            _fmt(per_class.get("person")),
            _fmt(per_class.get("pole")),
            _fmt(results[row]["psnr"]),
        )
    return results, kept


def label_limit(frames: list[EvalFrame], factor: int) -> dict:
    """The scene's own loss at the robot's downscale: the labels on the LR frame's grid
    (``block_labels``) scored like a method, with the small classes singled out."""
    cm = ConfusionMatrix()
    for f in frames:
        cm.update(f.labels, block_labels(f.labels, factor))
    per_class = cm.per_class()
    return {
        "factor": factor,
        "miou": cm.miou(),
        "per_class": per_class,
        **{c: per_class.get(c) for c in SMALL},
    }


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def spread(
    runs: list[dict[str, dict]], rows: list[str], keys: tuple[str, ...] = ("miou", "person", "pole", "psnr")
) -> dict:
    """Mean, min, max of each row's metrics across training-seed runs."""
    out: dict[str, dict] = {}
    for row in rows:
        out[row] = {}
        for key in keys:
            values = [r[row][key] for r in runs if row in r and r[row].get(key) is not None]
            if values:
                out[row][key] = {
                    "mean": float(np.mean(values)),
                    "min": float(np.min(values)),
                    "max": float(np.max(values)),
                    "spread": float(np.max(values) - np.min(values)),
                    "n": len(values),
                }
    return out
