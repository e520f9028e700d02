"""The camera sensor: motion blur, optics, vignetting, white balance and noise.

Noise comes from a per-size bank of Gaussian samples cut at a per-frame offset
(chosen by the frame's own random stream): as random as fresh noise for a
segmentation model, deterministic per frame, and a view instead of ~10 ms of
normal sampling per frame.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from cloudseg_ros.scene.camera import Camera
from cloudseg_ros.scene.style import CityStyle

EXPOSURE = 0.012  # seconds of shutter time
BANK_PAD = 64


@lru_cache(maxsize=4)
def _noise_bank(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(12345)
    return rng.standard_normal((height + BANK_PAD, width + BANK_PAD, 3), dtype=np.float32)


@lru_cache(maxsize=8)
def _gain(seed: int, width: int, height: int, vignette: float, exposure: float, cast: tuple) -> np.ndarray:
    """Per-pixel, per-channel gain in 8-bit units: exposure, colour cast and lens vignetting."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((x + 0.5 - width / 2) / (width / 2)) ** 2 + ((y + 0.5 - height / 2) / (width / 2)) ** 2
    v = 1.0 - vignette * r2
    return (v[..., None] * np.array(cast, np.float32) * (255.0 * exposure)).astype(np.float32)


def _zoom(img: np.ndarray, cam: Camera, s: float) -> np.ndarray:
    """The image sampled at positions pulled towards the vanishing point by factor s (< 1)."""
    m = np.array([[s, 0, cam.cx * (1 - s) - 0.5 * (1 - s)], [0, s, cam.cy * (1 - s) - 0.5 * (1 - s)]])
    return cv2.warpAffine(
        img,
        m,
        (cam.width, cam.height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def develop(
    img: np.ndarray, cam: Camera, style: CityStyle, speed: float, rng: np.random.Generator
) -> np.ndarray:
    """Linear-ish float RGB in 0..1 -> the uint8 frame the camera would deliver (``img`` is consumed)."""
    img *= _gain(
        style.seed, cam.width, cam.height, style.vignette, style.exposure, tuple(style.cast.tolist())
    )
    # forward motion during the exposure streaks everything away from the vanishing point, most at
    # the bottom and sides (near things): a two-tap zoom blur about it, sized by the distance travelled
    k = speed * EXPOSURE / 10.0  # relative scale change, over the exposure, of things ~10 m away
    if k * cam.width > 0.5:
        img = cv2.addWeighted(img, 0.5, _zoom(img, cam, 1 / (1 + k)), 0.5, 0.0)
    img = cv2.GaussianBlur(img, (0, 0), style.blur * max(cam.scale, 0.25))
    bank = _noise_bank(cam.width, cam.height)
    oy, ox = (int(v) for v in rng.integers(0, BANK_PAD, 2))
    img = cv2.scaleAdd(bank[oy : oy + cam.height, ox : ox + cam.width], style.noise, img)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
