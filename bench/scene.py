"""Benchmark of the embedded driving scene: render speed and how much fine detail x4 loses.

Speed: median ms/frame on ONE thread (cv2 and numpy BLAS pinned to one core, like the
camera node on the shared 2-core robot) at 512x256, 1024x512 and 2048x1024.

Difficulty proxy (no model needed): the labels of each frame are downscaled x4 (nearest
and 4x4 majority) and upscaled back (nearest); the per-class IoU against the full-resolution
labels is the best a perfect low-resolution segmenter could score. Large classes (road, sky,
building) should stay high, thin/small ones (person, pole, traffic sign) drop -- the gap
super-resolution can win back. Also reported: class pixel fractions and how many
pedestrians per frame are under 20 px tall.

Usage: PYTHONPATH=. python bench/scene.py [--frames 10] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np
from benchutil import emit

from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.scene import DrivingScene
from cloudseg_ros.scene.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES

SIZES = ((512, 256), (1024, 512), (2048, 1024))
DIFFICULTY_SEEDS = (100, 101, 102)
SPEED_SEEDS = (0, 7, 100)
SMALL_PERSON_PX = 20


def speed(frames: int, sizes=SIZES, seeds=SPEED_SEEDS, variant: str = "default") -> dict:
    """Per size: median and max wall-clock ms/frame, median CPU ms/frame (process time: the honest
    number on a shared machine, where wall time also counts other jobs), and the first frame's wall
    time (which builds the per-seed and per-size caches)."""
    out = {}
    for w, h in sizes:
        wall, cpu, first = [], [], []
        for seed in seeds:
            scene = DrivingScene(seed, w, h, variant)
            t0 = time.perf_counter()
            scene.render(0)
            first.append(time.perf_counter() - t0)
            for i in range(1, frames + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                scene.render(i)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        out[f"{w}x{h}"] = {
            "median_ms": round(1000 * statistics.median(wall), 1),
            "max_ms": round(1000 * max(wall), 1),
            "cpu_median_ms": round(1000 * statistics.median(cpu), 1),
            "first_ms": round(1000 * statistics.median(first), 1),
        }
    return out


def down_up(labels: np.ndarray, factor: int = 4, how: str = "nearest") -> np.ndarray:
    """Labels reduced by ``factor`` (nearest: block centre; majority: most frequent) and blown back up."""
    h, w = labels.shape
    hh, ww = h // factor, w // factor
    if how == "nearest":
        small = labels[factor // 2 :: factor, factor // 2 :: factor][:hh, :ww]
    else:
        blocks = labels[: hh * factor, : ww * factor].reshape(hh, factor, ww, factor).transpose(0, 2, 1, 3)
        blocks = blocks.reshape(hh, ww, factor * factor)
        counts = np.stack(
            [(blocks == c).sum(-1) for c in range(NUM_CLASSES)] + [(blocks == IGNORE_ID).sum(-1)], -1
        )
        ids = np.append(np.arange(NUM_CLASSES), IGNORE_ID).astype(np.uint8)
        small = ids[counts.argmax(-1)]
    up = np.repeat(np.repeat(small, factor, 0), factor, 1)
    out = np.full_like(labels, IGNORE_ID)
    out[: up.shape[0], : up.shape[1]] = up
    return out


def difficulty(frames_per_seed: int, width: int = 1024, height: int = 512, variant: str = "default") -> dict:
    cms = {"nearest": ConfusionMatrix(), "majority": ConfusionMatrix()}
    counts = np.zeros(256, np.int64)
    people, small_people, n_frames = 0, 0, 0
    for seed in DIFFICULTY_SEEDS:
        scene = DrivingScene(seed, width, height, variant)
        for k in range(frames_per_seed):
            frame = scene.render(k * 10)
            n_frames += 1
            counts += np.bincount(frame.labels.ravel(), minlength=256)
            for how, cm in cms.items():
                pred = down_up(frame.labels, 4, how)
                valid = pred != IGNORE_ID
                truth = np.where(valid, frame.labels, IGNORE_ID)
                cm.update(truth, np.where(valid, pred, 0))
            for p in frame.placements:
                if p.kind == "person" and p.base > 0 and p.top < height:
                    people += 1
                    small_people += (p.base - p.top) < SMALL_PERSON_PX
    total = counts.sum()
    return {
        "frames": n_frames,
        "size": f"{width}x{height}",
        "iou_x4_nearest": dict(zip(CLASS_NAMES, map(_num, cms["nearest"].iou()), strict=True)),
        "iou_x4_majority": dict(zip(CLASS_NAMES, map(_num, cms["majority"].iou()), strict=True)),
        "pixel_fraction": {name: float(counts[i] / total) for i, name in enumerate(CLASS_NAMES)}
        | {"ignore": float(counts[IGNORE_ID] / total)},
        "persons_per_frame": people / n_frames,
        "persons_under_20px_per_frame": small_people / n_frames,
    }


def _num(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--frames", type=int, default=10, help="timed frames per size, and difficulty frames per seed"
    )
    ap.add_argument("--quick", action="store_true", help="3 frames, skip 2048x1024")
    ap.add_argument("--variant", default="default")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    frames = 3 if args.quick else args.frames
    sizes = SIZES[:2] if args.quick else SIZES
    result = {
        "threads": 1,
        "load_average": os.getloadavg()[0],
        "variant": args.variant,
        "speed": speed(frames, sizes, variant=args.variant),
        "difficulty": difficulty(frames, variant=args.variant),
    }
    emit(result, args.json)
    out = sys.stderr  # the table; stdout is the JSON
    print(
        f"\nms/frame, one thread, seeds {SPEED_SEEDS}, {frames} frames each (load average {os.getloadavg()[0]:.1f})",
        file=out,
    )
    print("size        wall median  wall max  cpu median  first frame", file=out)
    for size, s in result["speed"].items():
        print(
            f"{size:<11} {s['median_ms']:11.1f} {s['max_ms']:9.1f} {s['cpu_median_ms']:11.1f} {s['first_ms']:12.1f}",
            file=out,
        )
    d = result["difficulty"]
    print(
        f"\nx4 down/up label IoU over {d['frames']} frames at {d['size']} (seeds {DIFFICULTY_SEEDS}):",
        file=out,
    )
    print("class           nearest  majority  pixel %", file=out)
    for name in CLASS_NAMES:
        n, m = d["iou_x4_nearest"][name], d["iou_x4_majority"][name]
        if n is None:
            continue
        print(f"{name:<15} {n:7.3f} {m:9.3f} {100 * d['pixel_fraction'][name]:8.2f}", file=out)
    print(
        f"persons/frame {d['persons_per_frame']:.1f}, under {SMALL_PERSON_PX} px tall: {d['persons_under_20px_per_frame']:.1f}",
        file=out,
    )


if __name__ == "__main__":
    main()
