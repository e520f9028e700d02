"""TensorRT engine: built from the ONNX export on first use, serialised to a disk cache.

A serialised TensorRT engine is only valid for the TensorRT version and the GPU it was
built on, and must be rebuilt when the model changes. The cache file name therefore
hashes (ONNX bytes, TensorRT version, GPU name, precision): a new model, driver stack or
card gets a new engine, never a stale one. ``force_update`` rebuilds regardless.
Device buffers are torch CUDA tensors (torch is a dependency anyway; no pycuda).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from cloudseg_ros.engines.base import Engine, GraphSource
from cloudseg_ros.errors import ConfigError

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """Where built artefacts (TensorRT engines, fused graphs) are kept: $CLOUDSEG_CACHE,
    else ~/.cache/cloudseg_ros."""
    return Path(os.environ.get("CLOUDSEG_CACHE") or Path.home() / ".cache" / "cloudseg_ros")


def default_cache_dir() -> Path:
    return cache_root() / "tensorrt"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


WORKSPACE_BYTES = 1 << 30  # the builder's scratch memory limit


def engine_cache_key(model_sha256: str, trt_version: str, gpu_name: str, fp16: bool, build: str = "") -> str:
    """Stable key of one serialised engine; any input changing means a rebuild. ``build``:
    the builder's settings (shape profile, workspace), which the ONNX file does not hold: a
    wider batch or size range with the same model is another engine."""
    text = "|".join([model_sha256, trt_version, gpu_name.strip(), "fp16" if fp16 else "fp32", build])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def build_settings(profile: dict) -> str:
    """What ``_build`` sets besides the model, as text for the cache key."""
    return f"{sorted(profile.items())!r}|workspace={WORKSPACE_BYTES}"


def engine_cache_path(
    cache_dir: Path, onnx_path: Path, trt_version: str, gpu_name: str, fp16: bool, build: str = ""
) -> Path:
    key = engine_cache_key(file_sha256(onnx_path), trt_version, gpu_name, fp16, build)
    return Path(cache_dir) / f"{Path(onnx_path).stem}-{key}.engine"


class TensorRTEngine(Engine):
    """Deserialises (or builds, then caches) the engine of ``source`` and runs it on CUDA."""

    def __init__(
        self,
        source: GraphSource,
        cache_dir: Path | None = None,
        fp16: bool = True,
        force_update: bool = False,
    ) -> None:
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("TensorRT needs a CUDA device")
        if not source.onnx_path.is_file():
            raise ConfigError(f"model file not found: {source.onnx_path}")
        self.trt, self.torch = trt, torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(self.logger)
        self.fp16 = bool(fp16 and builder.platform_has_fast_fp16)
        gpu = torch.cuda.get_device_name(0)
        path = engine_cache_path(
            cache_dir or default_cache_dir(),
            source.onnx_path,
            trt.__version__,
            gpu,
            self.fp16,
            build_settings(source.profile),
        )
        if force_update or not path.is_file():
            log.info("building TensorRT engine %s (fp16=%s) for %s", path.name, self.fp16, gpu)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(self._build(builder, source))
            tmp.replace(path)
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ConfigError(f"cannot deserialise TensorRT engine {path}; rerun with force_engine_update")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = [self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names]
        self.input_names = [n for n, i in zip(names, is_input, strict=True) if i]
        self.output_names = [n for n, i in zip(names, is_input, strict=True) if not i]
        self.stream = torch.cuda.Stream()
        self.name = "tensorrt-fp16" if self.fp16 else "tensorrt-fp32"
        self.on_gpu = True
        self.profile = dict(source.profile)  # (min, opt, max) shape per input: what run() accepts
        # The optimisation profile bounds the batch as well as H/W.
        batches = [hi[0] for _, _, hi in source.profile.values()]
        self.max_batch = min(batches) if batches else None

    def _build(self, builder: object, source: GraphSource) -> bytes:
        trt = self.trt
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(source.onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ConfigError(f"TensorRT cannot parse {source.onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in source.profile.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ConfigError(f"TensorRT failed to build an engine from {source.onnx_path}")
        return bytes(serialized)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch, trt = self.torch, self.trt
        with torch.cuda.stream(self.stream):  # copies and the engine on one stream: ordered
            keep = []
            for name in self.input_names:
                tensor = torch.from_numpy(np.ascontiguousarray(feeds[name])).cuda(non_blocking=True)
                keep.append(tensor)
                if not self.context.set_input_shape(name, tuple(tensor.shape)):
                    low, _, high = self.profile.get(name, ((), (), ()))
                    raise ConfigError(
                        f"{self.name}: input {name} of shape {tuple(tensor.shape)} is outside the TensorRT "
                        f"engine's shape profile ({low} .. {high}); serve such frames with engine "
                        "onnxruntime or torch, or bound max_width/max_height to the profile"
                    )
                self.context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                np_dtype = trt.nptype(self.engine.get_tensor_dtype(name))
                outputs[name] = torch.empty(
                    shape, dtype=torch.from_numpy(np.empty(0, np_dtype)).dtype, device="cuda"
                )
                self.context.set_tensor_address(name, outputs[name].data_ptr())
            self.context.execute_async_v3(self.stream.cuda_stream)
            result = {name: t.cpu().numpy() for name, t in outputs.items()}
        self.stream.synchronize()
        return result
