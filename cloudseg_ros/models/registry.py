"""Build models by name from plain config dicts (YAML keys = constructor arguments).

Each architecture module registers its class with ``@register_model("name")``;
``build_model({"type": "name", **kwargs})`` constructs it. Architecture modules are
imported explicitly in ``cloudseg_ros.models.__init__`` (no directory scanning), so
the registry is complete as soon as the package is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cloudseg_ros.errors import ConfigError

MODEL_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class decorator: make ``name`` buildable through :func:`build_model`."""

    def decorator(cls: Callable[..., Any]) -> Callable[..., Any]:
        if name in MODEL_REGISTRY:
            raise ValueError(f"model name {name!r} registered twice")
        MODEL_REGISTRY[name] = cls
        return cls

    return decorator


def build_model(config: Mapping[str, Any]) -> Any:
    """Construct the model named by ``config["type"]`` with the remaining keys as arguments."""
    options = dict(config)
    name = options.pop("type", None)
    if name not in MODEL_REGISTRY:
        known = ", ".join(sorted(MODEL_REGISTRY)) or "none"
        raise ConfigError(f"unknown model type {name!r}. Must be one of: {known}")
    try:
        return MODEL_REGISTRY[name](**options)
    except TypeError as exc:
        raise ConfigError(f"bad options for model {name!r}: {exc}") from exc
