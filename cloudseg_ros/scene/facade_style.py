"""Facade styles of a seed: storey heights, window rhythm and colours.

Kept apart from the texture atlas so the world layout can size buildings
(whole storeys) without rendering any texture.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.style import city_style

N_STYLES = 6
BAYS = 4  # window bays per texture tile
STOREYS = 4  # upper storeys per texture tile


@dataclass(frozen=True)
class FacadeStyle:
    bay: float  # metres between window axes
    storey: float
    ground: float  # ground-floor height
    wall: tuple[float, float, float]
    frame: tuple[float, float, float]
    win_w: float  # window width / bay
    win_h: float  # window height / storey
    brick: bool
    bands: bool  # horizontal cornices between storeys
    shops: bool

    @property
    def tile_w(self) -> float:
        return BAYS * self.bay

    @property
    def tile_h(self) -> float:
        return self.ground + STOREYS * self.storey


@lru_cache(maxsize=64)
def facade_styles(seed: int) -> tuple[FacadeStyle, ...]:
    style = city_style(seed)
    rng = stream(seed, "facades")
    out = []
    for k in range(N_STYLES):
        wall = style.palette.walls[k % len(style.palette.walls)]
        brick = bool(rng.random() < 0.25)
        if brick:
            wall = np.array([0.55, 0.3, 0.22]) * rng.uniform(0.8, 1.1)
        frame = (0.92, 0.92, 0.9) if rng.random() < 0.6 else (0.25, 0.22, 0.2)
        out.append(
            FacadeStyle(
                bay=float(rng.uniform(2.4, 3.6)),
                storey=float(rng.uniform(2.9, 3.5)),
                ground=float(rng.uniform(3.6, 4.6)),
                wall=tuple(float(c) for c in wall),
                frame=frame,
                win_w=float(rng.uniform(0.32, 0.6)),
                win_h=float(rng.uniform(0.42, 0.62)),
                brick=brick,
                bands=bool(rng.random() < 0.5),
                shops=bool(rng.random() < 0.6),
            )
        )
    return tuple(out)
