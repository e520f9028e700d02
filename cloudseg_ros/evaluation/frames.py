"""Held-out evaluation frames: consecutive frames of scene seeds never used in training
(checked against the training seeds recorded in the shipped metadata)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloudseg_ros.models.checkpoint import read_metadata
from cloudseg_ros.train.data import SCALE, check_disjoint, downscale, render


@dataclass
class EvalFrame:
    seed: int
    index: int
    hr: np.ndarray  # (H, W, 3) uint8
    lr: np.ndarray  # (H/4, W/4, 3) uint8, as the robot sends it (before any codec)
    labels: np.ndarray  # (H, W) uint8 train ids


def training_seeds(weights: Path, names: list[str]) -> set[int]:
    """Scene seeds the given checkpoints were trained or validated on (from their JSON)."""
    seeds: set[int] = set()
    for name in names:
        try:
            meta = read_metadata(weights, name)
        except Exception:
            continue
        for section in meta.get("training", {}).get("data_seeds", {}).values():
            lo, hi = section["seeds"]
            seeds.update(range(int(lo), int(hi) + 1))
    return seeds


def load_frames(
    seeds: list[int], frames: int, width: int, height: int, variant: str = "default", start: int = 0
) -> list[EvalFrame]:
    """``frames`` consecutive frames (from ``start``) of each scene seed."""
    out = []
    for seed in seeds:
        for index in range(start, start + frames):
            image, labels = render(seed, index, width, height, variant)
            out.append(EvalFrame(seed, index, image, downscale(image, SCALE), labels))
    return out


MODEL_NAMES = ["icnet", "espcn", "carn_m", "carn_m_cloudseg"]  # the shipped checkpoints


def check_held_out(eval_seeds: list[int], weights: Path, names: list[str]) -> None:
    check_disjoint(training_seeds(weights, names), eval_seeds)
