"""Image-quality metrics for super-resolution: PSNR and SSIM on 8-bit RGB frames."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images of equal shape (inf if identical)."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _blur(x: np.ndarray, size: int) -> np.ndarray:
    """Box mean over size x size windows ('valid' region), via an integral image."""
    c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), axis=0), axis=1)
    s = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return s / (size * size)


def ssim(reference: np.ndarray, test: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity on the luma channel (box window, the usual constants; images
    smaller than the window are one window)."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")

    def luma(img: np.ndarray) -> np.ndarray:
        img = img.astype(np.float64)
        return img if img.ndim == 2 else img[..., :3] @ np.array([0.299, 0.587, 0.114])

    x, y = luma(reference), luma(test)
    window = max(1, min(window, *x.shape[:2]))  # an image smaller than the window: one window
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x, window), _blur(y, window)
    sxx = _blur(x * x, window) - mx * mx
    syy = _blur(y * y, window) - my * my
    sxy = _blur(x * y, window) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())
