"""Image helpers without ROS: resizing between camera, encoded and mask resolutions."""

from cloudseg_ros.imaging.resize import downscale, downscaled_size, even_size, resize_labels_nearest, upscale

__all__ = ["downscale", "downscaled_size", "even_size", "resize_labels_nearest", "upscale"]
