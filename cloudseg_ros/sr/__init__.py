"""Super-resolution stage of the cloud (interpolation baselines and learned x4 models)."""

from cloudseg_ros.sr.upscaler import SR_NAMES, Upscaler

__all__ = ["SR_NAMES", "Upscaler"]
