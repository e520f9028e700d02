"""Model architectures (one per module), built by name through the registry."""

from cloudseg_ros.models import carn, espcn, icnet, interpolate  # noqa: F401  (register by name)
from cloudseg_ros.models.registry import MODEL_REGISTRY, build_model, register_model

__all__ = ["MODEL_REGISTRY", "build_model", "register_model"]
