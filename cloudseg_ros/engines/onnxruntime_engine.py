"""ONNX Runtime engine (CUDA or CPU execution provider)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cloudseg_ros.engines.base import Engine
from cloudseg_ros.errors import ConfigError

log = logging.getLogger(__name__)


def available_providers() -> list[str]:
    """Providers of the installed onnxruntime, or [] when it does not import."""
    try:
        import onnxruntime as ort
    except (ImportError, OSError):
        return []
    return list(ort.get_available_providers())


class OnnxRuntimeEngine(Engine):
    """One InferenceSession. ``device`` is "cuda" or "cpu"; CPU threads are capped because
    the cloud box also runs decoders and other robots' sessions."""

    def __init__(self, path: Path, device: str = "cpu", num_threads: int = 2) -> None:
        import onnxruntime as ort

        if not Path(path).is_file():
            raise ConfigError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(num_threads))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Several sessions share 2 cores (SR, segmenter, decode, other robots): spinning
        # idle threads of one session would steal the cores the next session needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = (["CUDAExecutionProvider"] if device == "cuda" else []) + ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise ConfigError(f"cannot load model file {path}: {exc}") from exc
        # ORT falls back to the CPU by itself when the CUDA provider cannot start (a missing
        # cuDNN, say), with a warning: name what serves, not what was asked for.
        self.on_gpu = self.session.get_providers()[0] == "CUDAExecutionProvider"
        self.name = f"onnxruntime-{'cuda' if self.on_gpu else 'cpu'}"
        if device == "cuda" and not self.on_gpu:
            log.warning("%s: the CUDA provider did not start; ONNX Runtime serves it on the CPU", path)
        self.output_names = [o.name for o in self.session.get_outputs()]
        # Graphs exported before the batch axis became dynamic have a fixed dim 0.
        fixed = [i.shape[0] for i in self.session.get_inputs() if i.shape and isinstance(i.shape[0], int)]
        self.max_batch = min(fixed) if fixed else None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))
