"""Accuracy, image-quality and latency metrics (no ROS imports)."""

from cloudseg_ros.metrics.image import psnr, ssim
from cloudseg_ros.metrics.segmentation import ConfusionMatrix, block_labels

__all__ = ["ConfusionMatrix", "block_labels", "psnr", "ssim"]
