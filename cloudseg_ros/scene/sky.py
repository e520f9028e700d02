"""Sky: a vertical gradient with procedural clouds, rendered once per (seed, size).

The sky is at infinity, so translation does not move it; camera shake shifts it,
which is a crop of a slightly larger cached image.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from cloudseg_ros.scene.camera import HORIZON, focal_for
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.style import city_style
from cloudseg_ros.scene.textures import value_noise

MARGIN = 0.04  # of the focal length: covers the shake amplitude


@lru_cache(maxsize=4)
def sky_image(seed: int, width: int, height: int) -> tuple[np.ndarray, int]:
    """(sky (H + 2m, W + 2m, 3) float32, margin m) for a frame size."""
    light = city_style(seed).light
    f = focal_for(width, height)
    m = int(np.ceil(MARGIN * f))
    hh, ww = height + 2 * m, width + 2 * m
    v = np.arange(hh, dtype=np.float32) + 0.5 - m
    elev = np.arctan2(HORIZON * height - v, f)  # radians above the horizon
    t = np.clip(elev / 0.35, 0, 1)[:, None, None] ** 0.7
    sky = light.horizon * (1 - t) + light.zenith * t
    sky = np.broadcast_to(sky, (hh, ww, 3)).astype(np.float32)
    # clouds at a quarter resolution (they are soft), in units of the focal length so they scale with size
    rng = stream(seed, "clouds")
    small = (max(8, hh // 4), max(8, ww // 4))
    cell = max(2.0, 0.12 * f / 4)
    n = (
        value_noise(rng, small, cell) * 0.6
        + value_noise(rng, small, cell / 3) * 0.3
        + value_noise(rng, small, cell / 9) * 0.1
    )
    cover = 0.25 + 0.7 * light.clouds
    dens = np.clip((n + 0.6 - cover) * -2.5 + 1.0, 0, 1)  # higher cover -> more of the noise is cloud
    dens = 1.0 - dens
    dens = cv2.resize(dens.astype(np.float32), (ww, hh), interpolation=cv2.INTER_LINEAR)
    shade = cv2.resize((0.93 + 0.1 * value_noise(rng, small, cell / 2)).astype(np.float32), (ww, hh))
    white = np.array([0.93, 0.93, 0.95], np.float32) * (1 - 0.25 * light.clouds)
    sky = sky * (1 - dens[..., None]) + (white * shade[..., None]) * dens[..., None]
    return np.ascontiguousarray(sky, dtype=np.float32), m
