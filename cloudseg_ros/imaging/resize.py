"""Resizing helpers shared by the robot (downscale before encoding) and the cloud (upscale, masks).

Everything is OpenCV on (H, W, C) or (H, W) numpy arrays; nothing here allocates more than its
output. Conventions:

- Pixel centres are aligned (the "half-pixel" model of cv2 INTER_AREA/LINEAR/CUBIC and
  INTER_NEAREST_EXACT), so a downscale followed by an upscale does not shift the image.
- Encoded frames use yuv420p, whose chroma planes are half size: H.264/H.265 need even widths and
  heights. :func:`even_size` is the one rounding rule; :func:`downscale` applies it by default.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

UpscaleMethod = Literal["bilinear", "bicubic", "nearest"]

_INTERPOLATION: dict[str, int] = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    # NEAREST_EXACT picks the source pixel whose centre is nearest; plain INTER_NEAREST floors
    # the coordinate instead and shifts the image by up to one source pixel.
    "nearest": cv2.INTER_NEAREST_EXACT,
}

# dtypes cv2.resize accepts for INTER_NEAREST_EXACT; others go through numpy indexing.
_CV2_LABEL_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32)}


def even_size(width: int, height: int) -> tuple[int, int]:
    """Round a frame size DOWN to even numbers, at least 2x2: the size yuv420p encoders accept.

    Rounding down (not to nearest) keeps the result within the requested size, so the low-
    resolution frame never claims more pixels than the camera delivered.
    """
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    return max(2, width - width % 2), max(2, height - height % 2)


def downscaled_size(width: int, height: int, factor: int, even: bool = True) -> tuple[int, int]:
    """The size :func:`downscale` produces for a ``width`` x ``height`` frame (see there)."""
    if factor < 1:
        raise ValueError(f"downscale factor must be >= 1, got {factor}")
    w, h = max(1, width // factor), max(1, height // factor)
    return even_size(w, h) if even else (w, h)


def downscale(rgb: np.ndarray, factor: int, even: bool = True, exact: bool = True) -> np.ndarray:
    """Area-average downscale by an integer ``factor`` (cv2.INTER_AREA), the robot's resize.

    Output size: ``(W // factor, H // factor)``, then, with ``even=True`` (the default, what the
    encoders need), rounded down to even by :func:`even_size`. When ``factor`` divides the frame
    and the quotient is even, every output pixel is the exact mean of a ``factor`` x ``factor``
    block (to +-0.5 from uint8 rounding). Otherwise the WHOLE frame is resampled to that size
    (INTER_AREA with a slightly larger, fractional factor; nothing is cropped), so the received
    frame still covers the camera's full field of view and masks map back to every camera pixel.
    Example: 1000x500 / 4 -> 250x125 -> 250x124.

    ``even=False`` keeps the plain ``W // factor`` x ``H // factor`` size (for training crops).
    ``exact=False`` (the robot's send path): where ``factor`` is a power of two that divides
    the frame into the output size exactly, halve it ``log2(factor)`` times instead. OpenCV
    has a vectorised path for an area halving and none for larger factors: at 2048x1024 / 4
    two halvings take ~0.5 ms against ~2 ms for one resize (``python bench/edge.py``): 1.5 ms
    of the edge's 5 ms budget. Each halving rounds, so a pixel is within half a level
    per halving of the exact block mean (+-1 at x4), and OpenCV rounds halves up, which
    brightens by about 1/8 of a level per halving (the training and evaluation frames keep
    the exact resize; the encoder's own error is several levels).
    Returns ``rgb`` itself, not a copy, when the size does not change.
    """
    h, w = rgb.shape[:2]
    out_w, out_h = downscaled_size(w, h, factor, even)
    if (out_w, out_h) == (w, h):
        return rgb
    if not exact and factor & (factor - 1) == 0 and (out_w * factor, out_h * factor) == (w, h):
        while factor > 1:
            h, w, factor = h // 2, w // 2, factor // 2
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        return rgb
    return cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA)


def upscale(rgb: np.ndarray, width: int, height: int, method: UpscaleMethod = "bilinear") -> np.ndarray:
    """Resize an image to ``width`` x ``height`` with a classical interpolator.

    The non-learned baselines the super-resolution models are compared against; also works as a
    downscale, though :func:`downscale` is the right call for that (INTER_AREA avoids aliasing).
    """
    try:
        interpolation = _INTERPOLATION[method]
    except KeyError:
        raise ValueError(
            f"unknown upscale method {method!r}; must be one of: {', '.join(_INTERPOLATION)}"
        ) from None
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def resize_labels_nearest(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a (H, W) class-id mask to ``width`` x ``height`` without inventing classes.

    Nearest neighbour by pixel centre, so it agrees with the image resizes above. Any integer
    dtype works: cv2 handles the common ones, numpy indexing the rest (e.g. int64).
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {labels.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    h, w = labels.shape
    if (w, h) == (width, height):
        return labels
    if labels.dtype in _CV2_LABEL_DTYPES:
        return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    rows = np.minimum(((np.arange(height) + 0.5) * (h / height)).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * (w / width)).astype(np.intp), w - 1)
    return labels[rows[:, None], cols[None, :]]
