"""Inference engines: TensorRT, ONNX Runtime (CUDA/CPU) and torch behind one interface,
chosen by :func:`create_engine` ("auto" = fastest available)."""

from cloudseg_ros.engines.base import Engine, GraphSource
from cloudseg_ros.engines.select import ENGINE_KINDS, FUSE_MODES, create_engine

__all__ = ["ENGINE_KINDS", "FUSE_MODES", "Engine", "GraphSource", "create_engine"]
