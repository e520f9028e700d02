"""Export checkpoints to ONNX (single file, dynamic batch and H/W) and locate the exported graphs.

``cloudseg export`` calls :func:`export_model` for each checkpoint in a weights directory:
a segmenter gives ``<name>.onnx`` (key frames) and ``<name>_decode.onnx`` (useful frames),
an SR model gives ``<name>.onnx``; the metadata JSON gains each file's sha256.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from cloudseg_ros.engines.base import GraphSource
from cloudseg_ros.engines.graphs import DECODE_IO, FUSED_DECODE_IO, FUSED_IO, SEGMENTER_IO, SR_IO
from cloudseg_ros.engines.tensorrt_engine import cache_root, file_sha256
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.checkpoint import load_checkpoint, read_metadata, write_metadata

log = logging.getLogger(__name__)
_checked_pts: set[tuple[Path, str, int, int]] = set()  # checkpoints already compared with their export

OPSET = 17
_FUSED_IO = {"key": FUSED_IO, "decode": FUSED_DECODE_IO}
# HR frame size range that TensorRT profiles cover (the ONNX files themselves are unbounded).
HR_MIN, HR_OPT, HR_MAX = (128, 256), (512, 1024), (1024, 2048)
BATCH_MIN, BATCH_OPT, BATCH_MAX = 1, 1, 8  # TensorRT profile: one robot's frame is the usual call
# Batch is dynamic too: the cloud batches frames of several robots into one call.
DYNAMIC = {
    "hr": {0: "N", 2: "H", 3: "W"},
    "sr": {0: "N", 2: "H", 3: "W"},
    "ids": {0: "N", 1: "H", 2: "W"},
    "lr": {0: "N", 2: "h", 3: "w"},
    "low": {0: "N", 2: "h32", 3: "w32"},
}


def export_onnx(
    module: Any, inputs: tuple[Any, ...], io: tuple[tuple[str, ...], tuple[str, ...]], path: Path
) -> Path:
    """Trace ``module`` once and write a self-contained ONNX file with dynamic H/W axes."""
    import torch

    names_in, names_out = io
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            module.eval(),
            inputs,
            str(path),
            dynamo=False,
            external_data=False,
            input_names=list(names_in),
            output_names=list(names_out),
            dynamic_axes={n: DYNAMIC[n] for n in (*names_in, *names_out)},
            opset_version=OPSET,
        )
    return path


def _example(height: int = 256, width: int = 512) -> tuple[Any, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    hr = torch.rand(1, 3, height, width, generator=generator)
    return hr, torch.nn.functional.avg_pool2d(hr, 4)


def graph_files(name: str, role: str) -> dict[str, str]:
    """Exported file per graph kind of a checkpoint ``name`` with ``role``."""
    if role == "segmenter":
        return {"segmenter": f"{name}.onnx", "decode": f"{name}_decode.onnx"}
    if role == "sr":
        return {"sr": f"{name}.onnx"}
    raise ConfigError(f"unknown model role {role!r} for {name}")


def export_model(directory: Path, name: str) -> list[Path]:
    """Export ``<directory>/<name>.pt`` to ONNX; record hashes in ``<name>.json``."""
    from cloudseg_ros.engines.graphs import DecodeGraph, SegmenterGraph

    directory = Path(directory)
    meta = read_metadata(directory, name)
    model = load_checkpoint(Path(directory) / f"{name}.pt")
    hr, lr = _example()
    files = graph_files(name, meta["role"])
    written = []
    if meta["role"] == "segmenter":
        low = model.encode_low(lr).detach()
        written.append(
            export_onnx(SegmenterGraph(model), (hr, lr), SEGMENTER_IO, directory / files["segmenter"])
        )
        written.append(export_onnx(DecodeGraph(model), (hr, low), DECODE_IO, directory / files["decode"]))
    else:
        written.append(export_onnx(model, (lr,), SR_IO, directory / files["sr"]))
    meta["files"] = {**files, "state_dict": f"{name}.pt"}
    meta["sha256"] = {p.name: file_sha256(p) for p in [*written, Path(directory) / f"{name}.pt"]}
    write_metadata(directory, name, meta)
    for p in written:
        log.info("wrote %s (%.2f MB)", p, p.stat().st_size / 1e6)
    return written


def exported_up_to_date(directory: Path, name: str) -> bool:
    """Whether ``name``'s ONNX files exist and were exported from the checkpoint there now."""
    directory = Path(directory)
    meta = read_metadata(directory, name)
    recorded = meta.get("sha256", {})
    pt = directory / f"{name}.pt"
    files = graph_files(name, meta["role"]).values()
    return (
        all((directory / f).is_file() for f in files)
        and pt.is_file()
        and recorded.get(pt.name) == file_sha256(pt)
    )


def export_fused(directory: Path, sr_name: str, seg_name: str, out: Path) -> GraphSource:
    """SR + segmenter in one graph (lr) -> (ids, low), to measure fusing against two calls;
    the torch rebuild serves torch engines (GPU: no host round trip of the HR frame)."""
    return _export_pair(Path(directory), sr_name, seg_name, "key", Path(out))


def fused_sources(
    directory: Path, sr_name: str, seg_name: str, cache_dir: Path | None = None
) -> dict[str, GraphSource]:
    """The "key" (lr) -> (ids, low) and "decode" (lr, low) -> ids graphs of SR fused with
    the segmenter, exported once per pair of checkpoints into ``cache_dir`` (default
    ``$CLOUDSEG_CACHE/graphs``) under a name that hashes both checkpoints, the model code and
    torch's version, so a retrained model is exported anew and never served stale. The cloud
    serves x4 frames with them on GPU engines, where the HR frame then never crosses back to
    the host (see ``CloudPipeline``)."""
    directory = Path(directory)
    pts = [directory / f"{sr_name}.pt", directory / f"{seg_name}.pt"]
    missing = [str(p) for p in pts if not p.is_file()]
    if missing:
        raise ConfigError(f"fusing SR and segmenter needs their checkpoints; not found: {', '.join(missing)}")
    parts = [*(file_sha256(p) for p in pts), str(OPSET), _code_digest()]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir else cache_root() / "graphs"
    low_channels = int(read_metadata(directory, seg_name).get("low_channels", 0))
    sources = {}
    for graph in ("key", "decode"):
        path = cache / f"{sr_name}+{seg_name}-{graph}-{digest}.onnx"
        build, io = _pair_builder(directory, sr_name, seg_name, graph)
        if not path.is_file():  # written under a temporary name: another process may export it too
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            try:
                _export_pair(directory, sr_name, seg_name, graph, tmp)
                os.replace(tmp, path)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the fused graph to {cache} ({exc}); set CLOUDSEG_CACHE to a writable "
                    "folder or fuse_sr to off"
                ) from exc
            log.info("exported fused %s graph %s", graph, path)
        sources[graph] = GraphSource(path, build, _profile(io[0], low_channels))
    return sources


def _pair_builder(directory: Path, sr_name: str, seg_name: str, graph: str) -> tuple[Any, tuple]:
    """(torch builder, io names) of the fused ``graph`` ("key" or "decode")."""
    from cloudseg_ros.engines.graphs import FusedDecodeGraph, FusedGraph

    wrap = {"key": FusedGraph, "decode": FusedDecodeGraph}[graph]

    def build() -> Any:
        sr = load_checkpoint(directory / f"{sr_name}.pt")
        return wrap(sr, load_checkpoint(directory / f"{seg_name}.pt"))

    return build, _FUSED_IO[graph]


def _export_pair(directory: Path, sr_name: str, seg_name: str, graph: str, out: Path) -> GraphSource:
    build, io = _pair_builder(directory, sr_name, seg_name, graph)
    module = build()
    _, lr = _example()
    inputs = (lr,) if graph == "key" else (lr, module.decode.segmenter.encode_low(lr).detach())
    low_channels = int(read_metadata(directory, seg_name).get("low_channels", 0))
    return GraphSource(export_onnx(module, inputs, io, out), build, _profile(io[0], low_channels))


@functools.cache
def _code_digest() -> str:
    """The model and graph code and the exporter's version: a change to either exports the
    fused graphs anew, though the checkpoints stay the same."""
    import torch

    from cloudseg_ros import models
    from cloudseg_ros.engines import graphs

    sources = [*sorted(Path(models.__file__).parent.rglob("*.py")), Path(graphs.__file__)]
    digest = hashlib.sha256(torch.__version__.encode())
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _profile(names_in: tuple[str, ...], low_channels: int) -> dict[str, tuple[tuple[int, ...], ...]]:
    """TensorRT's (min, opt, max) shape per input, from the HR size and batch ranges."""
    profile = {}
    for name_in in names_in:
        div, ch = {"hr": (1, 3), "lr": (4, 3), "low": (32, low_channels)}[name_in]
        profile[name_in] = tuple(
            (n, ch, h // div, w // div)
            for n, (h, w) in zip((BATCH_MIN, BATCH_OPT, BATCH_MAX), (HR_MIN, HR_OPT, HR_MAX), strict=True)
        )
    return profile


def graph_source(directory: Path, name: str, graph: str) -> GraphSource:
    """The exported ``graph`` ("segmenter", "decode", "sr") of checkpoint ``name``, with a
    torch rebuild (when the .pt is there) and TensorRT shape profiles."""
    from cloudseg_ros.engines.graphs import DecodeGraph, SegmenterGraph

    directory = Path(directory)
    meta = read_metadata(directory, name)
    files = graph_files(name, meta["role"])
    if graph not in files:
        raise ConfigError(f"{name} ({meta['role']}) has no {graph!r} graph")
    pt = directory / f"{name}.pt"
    wrap = {"segmenter": SegmenterGraph, "decode": DecodeGraph, "sr": lambda m: m}[graph]

    def build() -> Any:
        return wrap(load_checkpoint(pt))

    names_in = {"segmenter": SEGMENTER_IO, "decode": DECODE_IO, "sr": SR_IO}[graph][0]
    profile = _profile(names_in, int(meta.get("low_channels", 0)))
    recorded = meta.get("sha256", {})
    if pt.is_file() and pt.name in recorded:
        stat = pt.stat()
        key = (pt, recorded[pt.name], stat.st_mtime_ns, stat.st_size)  # hashed once per file state
        if key not in _checked_pts and file_sha256(pt) != recorded[pt.name]:
            log.warning(
                "%s changed since its ONNX files were exported: ONNX Runtime and TensorRT serve the "
                "exported model, the torch engine the new checkpoint; run `cloudseg export --weights %s`",
                pt, directory,
            )  # fmt: skip
        _checked_pts.add(key)
    return GraphSource(directory / files[graph], build if pt.is_file() else None, profile,
                       onnx_sha256=recorded.get(files[graph]))  # fmt: skip
