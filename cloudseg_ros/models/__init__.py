"""Model architectures (one per module), built by name through the registry."""

from cloudseg_ros.models.registry import MODEL_REGISTRY, build_model, register_model

__all__ = ["MODEL_REGISTRY", "build_model", "register_model"]
