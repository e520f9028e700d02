"""Cheap low-level frame features for deciding what is worth sending (Reducto-style).

Everything runs on a small grayscale thumbnail, so a 2048x1024 frame costs well
under a millisecond: the robot must decide before it spends anything on encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

THUMB_WIDTH = 96  # thumbnail width in pixels; height keeps the frame's aspect ratio


@dataclass(frozen=True)
class Features:
    """A frame's thumbnail (float32 gray in [0, 1]) and its binary edge map."""

    gray: np.ndarray
    edges: np.ndarray


def extract(rgb: np.ndarray, width: int = THUMB_WIDTH) -> Features:
    h, w = rgb.shape[:2]
    height = max(2, round(h * width / w))
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    edges = (gx * gx + gy * gy) > 0.04  # |gradient| > 0.2: object outlines, not texture noise
    return Features(gray, edges)


def deviation(current: Features, reference: Features, pixel_threshold: float = 0.08) -> float:
    """How much the content changed, in [0, 1]: the mean of the fraction of thumbnail pixels
    whose brightness moved by more than ``pixel_threshold`` and the fraction of edge pixels
    that appeared or vanished (outlines moving is what changes a segmentation)."""
    if current.gray.shape != reference.gray.shape:
        return 1.0
    pixel = float(np.mean(np.abs(current.gray - reference.gray) > pixel_threshold))
    union = np.count_nonzero(current.edges | reference.edges)
    edge = float(np.count_nonzero(current.edges ^ reference.edges) / union) if union else 0.0
    return 0.5 * (pixel + edge)
