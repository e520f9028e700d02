"""PNG plots of the evaluation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.scene.labels import TRAIN_ID, colorize


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bandwidth(points: list[dict], miou_hr: float, margin: float, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    groups: dict[str, list[dict]] = {}
    for p in points:
        label = p["method"] if p["method"] != "awstream" else f"awstream {p['width']}x{p['height']}"
        groups.setdefault(label, []).append(p)
    for label, pts in groups.items():
        pts = sorted(pts, key=lambda p: p["kbps"])
        style = "-o" if label in ("hr", "cloudseg") else "--s"
        ax.plot([p["kbps"] for p in pts], [p["miou"] for p in pts], style, label=label, markersize=4)
    ax.axhline(miou_hr, color="grey", lw=0.8, label="HR uncompressed")
    ax.axhline(miou_hr - margin, color="grey", lw=0.8, ls=":", label=f"HR - {margin}")
    ax.set_xscale("log")
    ax.set_xlabel("uplink bandwidth (kbps, measured H.264)")
    ax.set_ylabel("mIoU")
    ax.set_title("Accuracy vs bandwidth (Figure 5)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_table1(
    rows: dict[str, dict], path: Path, classes: tuple[str, ...] = ("person", "pole", "traffic_sign")
) -> Path:
    plt = _plt()
    names = list(rows)
    metrics = ["miou", *classes]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [rows[name]["miou"]] + [rows[name]["per_class"].get(c, np.nan) for c in classes]
        ax.bar(np.arange(len(metrics)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylabel("IoU")
    ax.set_title("Upsampling methods (Table 1)")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_sweep(sweep: list[dict], path: Path) -> Path:
    """mIoU, person IoU and PSNR against lambda, one line per task loss (ce, kl)."""
    plt = _plt()
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax2 = ax1.twinx()
    for task, style in zip(sorted({r.get("task", "ce") for r in sweep}), ("-", "--", ":"), strict=False):
        rows = sorted((r for r in sweep if r.get("task", "ce") == task), key=lambda r: r["lam"])
        lams = [max(r["lam"], 1e-4) for r in rows]
        ax1.plot(lams, [r["miou"] for r in rows], style + "o", color="C0", label=f"mIoU ({task})")
        ax1.plot(lams, [r["person"] for r in rows], style + "s", color="C1", label=f"person IoU ({task})")
        ax2.plot(lams, [r["psnr"] for r in rows], style + "^", color="grey", label=f"PSNR ({task})")
    ax1.set_xscale("log")
    ax1.set_xlabel("lambda (task loss weight; 0 plotted at 1e-4)")
    ax1.set_ylabel("IoU")
    ax2.set_ylabel("PSNR (dB)")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.set_title("Analytics-aware fine-tuning: lambda sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def find_small_person(labels: np.ndarray, min_area: int = 30, max_area: int = 2000) -> tuple[int, int] | None:
    """Centre (x, y) of the smallest pedestrian blob of a useful size, or None."""
    mask = (labels == TRAIN_ID["person"]).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    best = None
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if min_area <= area <= max_area and (best is None or area < stats[best, cv2.CC_STAT_AREA]):
            best = i
    return None if best is None else (int(centroids[best][0]), int(centroids[best][1]))


def side_by_side(
    images: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    centre: tuple[int, int] | None,
    path: Path,
    window: tuple[int, int] = (128, 64),
) -> Path:
    """Top row: input frames; bottom row: masks; both zoomed on ``centre``."""
    plt = _plt()
    h, w = next(iter(masks.values())).shape
    cx, cy = centre if centre else (w // 2, h // 2)
    ww, wh = window
    x0 = int(np.clip(cx - ww // 2, 0, w - ww))
    y0 = int(np.clip(cy - wh // 2, 0, h - wh))
    cols = max(len(images), len(masks))
    fig, axes = plt.subplots(2, cols, figsize=(3 * cols, 3.2))
    for ax in axes.ravel():
        ax.axis("off")
    for i, (name, img) in enumerate(images.items()):
        axes[0, i].imshow(img[y0 : y0 + wh, x0 : x0 + ww], interpolation="nearest")
        axes[0, i].set_title(name, fontsize=9)
    for i, (name, mask) in enumerate(masks.items()):
        axes[1, i].imshow(colorize(mask[y0 : y0 + wh, x0 : x0 + ww]), interpolation="nearest")
        axes[1, i].set_title(f"mask: {name}", fontsize=9)
    fig.suptitle(f"zoom {ww}x{wh} px at ({x0}, {y0}) on a small distant pedestrian", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
