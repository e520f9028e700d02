"""Tiny procedural frames for smoke tests of the train/export/serve path that must not
depend on the scene renderer: coloured boxes whose labels are their colours' classes."""

from __future__ import annotations

import numpy as np

from cloudseg_ros.scene.labels import PALETTE


def toy_frame(
    seed: int, index: int, width: int, height: int, variant: str = "default"
) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, labels uint8): road below, sky above, a few boxes of random classes."""
    rng = np.random.default_rng([seed, index])
    labels = np.full((height, width), 10, dtype=np.uint8)
    labels[height // 2 :] = 0
    for _ in range(4):
        cls = int(rng.choice([2, 5, 11, 13]))
        w, h = int(rng.integers(2, width // 4)), int(rng.integers(4, height // 2))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        labels[y : y + h, x : x + w] = cls
    noise = rng.integers(-12, 13, size=(height, width, 3))
    image = np.clip(PALETTE[labels].astype(np.int64) + noise, 0, 255).astype(np.uint8)
    return image, labels
