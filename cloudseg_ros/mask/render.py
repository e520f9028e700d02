"""Turning class ids into what people and driving stacks look at.

``restore`` brings a mask to camera resolution with nearest-neighbour sampling (class
ids must never be blended); ``colorize`` maps ids to the Cityscapes palette (a mono8
id image looks black in RViz); ``overlay`` blends that palette image over the camera
frame the mask was computed from.
"""

from __future__ import annotations

import cv2
import numpy as np

from cloudseg_ros.imaging.resize import resize_labels_nearest
from cloudseg_ros.scene.labels import colorize

__all__ = ["colorize", "overlay", "restore"]


def restore(class_ids: np.ndarray, width: int, height: int) -> np.ndarray:
    """Class ids at ``width`` x ``height`` (nearest neighbour); the array itself if already so."""
    if class_ids.shape == (height, width):
        return class_ids
    return resize_labels_nearest(class_ids, width, height)


def overlay(image_rgb: np.ndarray, color_rgb: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``alpha`` of the palette image over ``1 - alpha`` of the camera image."""
    if image_rgb.shape != color_rgb.shape:
        raise ValueError(f"image {image_rgb.shape} and mask {color_rgb.shape} differ in size")
    return cv2.addWeighted(color_rgb, alpha, image_rgb, 1.0 - alpha, 0.0)
