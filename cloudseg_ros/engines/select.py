"""Pick the fastest engine that works here: TensorRT (GPU), ONNX Runtime CUDA, torch
CUDA, ONNX Runtime CPU, torch CPU. Every import is guarded; which engine serves, and why
the faster ones were skipped, is logged once per process.

torch CUDA ranks above ONNX Runtime CPU: on a GPU box without TensorRT or the CUDA build
of ONNX Runtime (the usual pip install gives the CPU build) the GPU should still serve."""

from __future__ import annotations

import logging
from pathlib import Path

from cloudseg_ros.engines.base import Engine, GraphSource
from cloudseg_ros.errors import ConfigError

log = logging.getLogger(__name__)

ENGINE_KINDS = ("auto", "tensorrt", "onnxruntime", "torch")
FUSE_MODES = ("auto", "on", "off")  # SR fused into the segmenter's graphs; auto: on GPU engines
_announced: set[tuple[str, str]] = set()


def _cuda_available() -> bool:
    try:
        from cloudseg_ros.engines.torch_engine import cuda_available
    except (ImportError, OSError):
        return False
    return cuda_available()


def tensorrt_status() -> str | None:
    """None if TensorRT can serve here, else the reason it cannot."""
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"tensorrt does not import ({exc.__class__.__name__}: {exc})"
    if not _cuda_available():
        return "no CUDA device"
    return None


def onnxruntime_status(device: str) -> str | None:
    """None if ONNX Runtime with ``device`` ("cuda"/"cpu") can serve here, else why not."""
    from cloudseg_ros.engines.onnxruntime_engine import available_providers

    providers = available_providers()
    if not providers:
        return "onnxruntime does not import"
    wanted = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if wanted not in providers:
        return f"{wanted} not in onnxruntime providers {providers}"
    if device == "cuda" and not _cuda_available():
        return "no CUDA device"
    return None


def create_engine(
    source: GraphSource,
    kind: str = "auto",
    num_threads: int = 2,
    output_names: list[str] | None = None,
    cache_dir: Path | None = None,
    fp16: bool = True,
    force_engine_update: bool = False,
) -> Engine:
    """The engine of ``kind`` for ``source``; "auto" tries the candidates fastest first."""
    if kind not in ENGINE_KINDS:
        raise ConfigError(f"unknown engine {kind!r}; must be one of {', '.join(ENGINE_KINDS)}")
    candidates = {
        "auto": ["tensorrt", "onnxruntime-cuda", "torch-cuda", "onnxruntime-cpu", "torch-cpu"],
        "tensorrt": ["tensorrt"],
        "onnxruntime": ["onnxruntime-cuda", "onnxruntime-cpu"],
        "torch": ["torch-cuda", "torch-cpu"],
    }[kind]
    skipped: list[str] = []
    for candidate in candidates:
        reason = _status(candidate, source)
        if reason is not None:
            skipped.append(f"{candidate}: {reason}")
            continue
        engine = _build(candidate, source, num_threads, output_names, cache_dir, fp16, force_engine_update)
        _announce(kind, engine.name, skipped)
        return engine
    raise ConfigError(f"no engine of kind {kind!r} can serve {source.onnx_path.name}: " + "; ".join(skipped))


def _status(candidate: str, source: GraphSource) -> str | None:
    if candidate == "tensorrt":
        return tensorrt_status()
    if candidate.startswith("onnxruntime"):
        return onnxruntime_status(candidate.split("-")[1])
    if source.build_torch is None:
        return "no torch weights for this graph"
    try:
        import torch  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"torch does not import ({exc})"
    if candidate == "torch-cuda" and not _cuda_available():
        return "no CUDA device"
    return None


def _build(
    candidate: str,
    source: GraphSource,
    num_threads: int,
    output_names: list[str] | None,
    cache_dir: Path | None,
    fp16: bool,
    force_update: bool,
) -> Engine:
    if candidate == "tensorrt" or candidate.startswith("onnxruntime"):
        _check_exported(source)
    if candidate == "tensorrt":
        from cloudseg_ros.engines.tensorrt_engine import TensorRTEngine

        return TensorRTEngine(source, cache_dir=cache_dir, fp16=fp16, force_update=force_update)
    if candidate.startswith("onnxruntime"):
        from cloudseg_ros.engines.onnxruntime_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine(source.onnx_path, device=candidate.split("-")[1], num_threads=num_threads)
    from cloudseg_ros.engines.torch_engine import TorchEngine

    if output_names is None:
        raise ConfigError(f"the torch engine needs the output names of {source.onnx_path.name}")
    device = candidate.split("-")[1]
    return TorchEngine(source.build_torch(), output_names, num_threads=num_threads, device=device, fp16=fp16)


def _check_exported(source: GraphSource) -> None:
    """The ONNX file is the one `cloudseg export` wrote: a damaged or replaced file that still
    parses would otherwise be served silently (a few flipped bytes changed 96% of a mask)."""
    from cloudseg_ros.engines.tensorrt_engine import file_sha256

    path = source.onnx_path
    if source.onnx_sha256 is None or not path.is_file():
        return  # nothing recorded (a fused graph, older metadata); a missing file is named later
    if file_sha256(path) != source.onnx_sha256:
        raise ConfigError(
            f"{path}: not the file `cloudseg export` wrote (its sha256 differs from the one recorded "
            f"in the model's .json): damaged or replaced; run `cloudseg export --weights {path.parent}`"
        )


def _announce(kind: str, chosen: str, skipped: list[str]) -> None:
    if (kind, chosen) in _announced:
        return
    _announced.add((kind, chosen))
    if skipped:
        log.info("engine %s serves (asked %s); skipped %s", chosen, kind, "; ".join(skipped))
    else:
        log.info("engine %s serves (asked %s)", chosen, kind)
