"""Procedural textures: tileable value noise and the ground materials.

Textures are in world units (metres per texel) and sampled through world
coordinates, so asphalt grain, paving joints and grass move with ego-motion
exactly like the geometry does.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from cloudseg_ros.scene.rng import stream

GROUND_RES = 0.01  # metres per ground texel
GROUND_TILE = 1024  # texels per tile side (10.24 m, repeats are hidden by the noise)
GROUND_LEVELS = 7  # mip levels of the ground atlas
MATERIALS = ("asphalt", "paving", "grass")


def value_noise(
    rng: np.random.Generator, size: tuple[int, int], cell: float, wrap: bool = True
) -> np.ndarray:
    """Smooth noise in [-1, 1]-ish of shape ``size`` with features ``cell`` texels apart (tileable)."""
    h, w = size
    gh, gw = max(1, round(h / cell)), max(1, round(w / cell))
    grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    pad = 2
    grid = np.pad(grid, pad, mode="wrap" if wrap else "reflect")
    big = cv2.resize(
        grid, ((gw + 2 * pad) * w // gw, (gh + 2 * pad) * h // gh), interpolation=cv2.INTER_CUBIC
    )
    oy, ox = pad * h // gh, pad * w // gw
    return big[oy : oy + h, ox : ox + w]


def fractal(
    rng: np.random.Generator, size: tuple[int, int], cells: list[float], gains: list[float]
) -> np.ndarray:
    out = np.zeros(size, np.float32)
    for cell, gain in zip(cells, gains, strict=True):
        out += gain * value_noise(rng, size, cell)
    return out


def _asphalt(rng: np.random.Generator, n: int) -> np.ndarray:
    grain = rng.normal(0, 1, (n, n)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.7) * 0.22
    speck = (rng.random((n, n)) < 0.02).astype(np.float32) * rng.uniform(-0.35, 0.45, (n, n)).astype(
        np.float32
    )
    low = fractal(rng, (n, n), [8, 30, 120, 400], [0.03, 0.04, 0.05, 0.07])
    tex = 1.0 + grain + speck + low
    # tar-sealed cracks: a few dark meandering lines
    cracks = np.zeros((n, n), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        pts = np.cumsum(rng.normal(0, 6, (60, 2)), axis=0) + rng.uniform(0, n, 2)
        cv2.polylines(cracks, [np.round(pts).astype(np.int32)], False, 255, 2)
    tex[cracks > 0] *= 0.6
    for _ in range(int(rng.integers(0, 3))):  # repair patches: smoother, darker or lighter rectangles
        h, w = (int(v) for v in rng.integers(60, 400, 2))
        y, x = (int(v) for v in rng.integers(0, n - 400, 2))
        tex[y : y + h, x : x + w] = 1.0 + (tex[y : y + h, x : x + w] - 1.0) * 0.5 + rng.uniform(-0.12, 0.08)
    return np.repeat(tex[..., None], 3, axis=2)


def _paving(rng: np.random.Generator, n: int) -> np.ndarray:
    slab = [25, 30, 50, 60][int(rng.integers(4))]  # texels: 0.25 .. 0.6 m
    ys, xs = np.mgrid[0:n, 0:n]
    row = ys // slab
    offset = (row % 2) * (slab // 2) * (rng.random() < 0.5)
    col = (xs + offset) // slab
    ids = (row * 7919 + col * 104729) % 1009
    tint = stream(int(rng.integers(1 << 30)), "slab").uniform(-0.08, 0.08, 1009).astype(np.float32)[ids]
    joint = ((ys % slab) < 2) | (((xs + offset) % slab) < 2)
    tex = 1.0 + tint + fractal(rng, (n, n), [2, 12, 200], [0.06, 0.04, 0.06])
    tex[joint] *= 0.68
    return np.repeat(tex[..., None], 3, axis=2)


def _grass(rng: np.random.Generator, n: int) -> np.ndarray:
    base = fractal(rng, (n, n), [2, 6, 25, 120], [0.18, 0.15, 0.12, 0.1])
    hue = fractal(rng, (n, n), [40, 200], [0.5, 0.5])
    r = 1.0 + base + 0.12 * hue
    g = 1.0 + base * 1.1
    b = 1.0 + base * 0.8 - 0.05 * hue
    return np.stack([r, g, b], axis=2)


@lru_cache(maxsize=4)
def ground_atlas(seed: int) -> tuple[np.ndarray, ...]:
    """Mip pyramid of the ground atlas: materials stacked vertically, uint8 with 128 = factor 1.

    Level k is the atlas shrunk by 2**k (area-averaged), for rows whose pixels cover
    2**k texels: far ground is prefiltered instead of aliasing into sparkle.
    """
    rng = stream(seed, "ground-textures")
    n = GROUND_TILE
    tiles = [_asphalt(rng, n), _paving(rng, n), _grass(rng, n)]
    levels = []
    for k in range(GROUND_LEVELS):
        m = n >> k
        shrunk = [t if k == 0 else cv2.resize(t, (m, m), interpolation=cv2.INTER_AREA) for t in tiles]
        # one texel of wrap-around padding per tile so bilinear sampling at a tile edge stays in the tile
        padded = [np.concatenate([t[-1:], t, t[:1]], axis=0) for t in shrunk]
        atlas = np.clip(np.concatenate(padded, axis=0) * 128.0, 0, 255).astype(np.uint8)
        levels.append(atlas)
    return tuple(levels)
