"""Seeded random streams keyed by *what* they generate.

Every random choice in the scene comes from ``stream(seed, tag, ...)``, keyed by
the thing being generated (a road segment, a traffic cell, a frame's noise), never
by render order. That is what makes ``DrivingScene.render(i)`` random-access:
frame 500 needs no knowledge of frames 0..499.
"""

from __future__ import annotations

import zlib

import numpy as np

Key = int | str


def _word(key: Key) -> int:
    """A stable non-negative integer for a key (str hashes are salted per process, crc32 is not)."""
    if isinstance(key, str):
        return zlib.crc32(key.encode()) + (1 << 40)  # keeps strings apart from small ints
    return int(key) % (1 << 64)


def stream(seed: int, *keys: Key) -> np.random.Generator:
    """An independent generator for (seed, *keys); the same keys always give the same numbers."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed) % (1 << 64), len(keys), *map(_word, keys)])
    )
