"""Accuracy, image-quality and latency metrics (no ROS imports)."""

from cloudseg_ros.metrics.image import psnr, ssim
from cloudseg_ros.metrics.segmentation import ConfusionMatrix

__all__ = ["ConfusionMatrix", "psnr", "ssim"]
