"""Lossless class-id masks for the downlink: 8-bit greyscale PNG.

Class ids must survive exactly (a wrong id is a wrong class), so the mask is never
JPEG'd or resized with interpolation. PNG at the lowest zlib effort keeps encoding
at a few ms while large uniform regions still shrink 20-50x.
"""

from __future__ import annotations

import cv2
import numpy as np

from cloudseg_ros.errors import PayloadError

ENCODING = "png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_mask(class_ids: np.ndarray, level: int = 1) -> bytes:
    """(H, W) uint8 class ids -> PNG bytes."""
    if class_ids.ndim != 2 or class_ids.dtype != np.uint8:
        raise ValueError(f"expected (H, W) uint8 class ids, got {class_ids.shape} {class_ids.dtype}")
    ok, buf = cv2.imencode(".png", class_ids, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_mask(data: bytes, width: int, height: int, max_pixels: int = 4096 * 4096) -> np.ndarray:
    """PNG bytes -> (height, width) uint8 class ids; PayloadError if it is anything else."""
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise PayloadError(f"mask size {width}x{height} out of bounds")
    if len(data) < len(PNG_SIGNATURE) + 25 or not bytes(data[:8]) == PNG_SIGNATURE:
        raise PayloadError("mask is not a PNG")
    # IHDR follows the signature: width and height as big-endian uint32, checked before decoding.
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if (w, h) != (width, height):
        raise PayloadError(f"mask PNG is {w}x{h}, message says {width}x{height}")
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.shape != (height, width) or mask.dtype != np.uint8:
        raise PayloadError("mask PNG is corrupt or not 8-bit greyscale")
    return mask
