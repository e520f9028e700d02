"""Model benchmark: ms/frame per model and engine at the demo size and at 2048x1024,
parameters and MACs.

    python bench/models.py                 # shipped weights, every engine present (a few minutes)
    python bench/models.py --quick         # demo size only, 3 repeats
    python bench/models.py --json FILE     # also write the JSON there
    python bench/models.py --engines torch --precision both   # on a GPU: torch CUDA FP32 and FP16

Graphs: the segmenter's key-frame graph (hr, lr) -> ids, its decode graph for useful
frames (hr, low) -> ids (key-frame reuse: the difference is the saving), each SR model
lr -> sr, and SR + segmenter fused into one graph. Times are medians (shared machine) of
host arrays in -> host arrays out (on a GPU the copies count, as they do in the cloud);
inputs are random (speed does not depend on content). Prints a table on stderr and the
JSON on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchutil import emit

from cloudseg_ros.engines import create_engine
from cloudseg_ros.engines.export import export_fused, graph_source
from cloudseg_ros.engines.select import onnxruntime_status, tensorrt_status
from cloudseg_ros.models.checkpoint import load_checkpoint, weights_dir

SIZES = ((1024, 512), (2048, 1024))
GRAPHS = (
    ("icnet", "segmenter", ["ids", "low"]),
    ("icnet", "decode", ["ids"]),
    ("carn_m_cloudseg", "sr", ["sr"]),
    ("carn_m", "sr", ["sr"]),
    ("espcn", "sr", ["sr"]),
)


def count_macs(module: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> int:
    """Multiply-accumulates of conv layers (the bulk of the work) for one forward pass."""
    total = 0

    def hook(m: torch.nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        total += out.numel() * (m.in_channels // m.groups) * k

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        module(**inputs)
    for h in handles:
        h.remove()
    return total


def feeds(graph: str, width: int, height: int, low_channels: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = {
        "segmenter": {"hr": (1, 3, height, width), "lr": (1, 3, height // 4, width // 4)},
        "decode": {"hr": (1, 3, height, width), "low": (1, low_channels, height // 32, width // 32)},
        "sr": {"lr": (1, 3, height // 4, width // 4)},
        "fused": {"lr": (1, 3, height // 4, width // 4)},
    }[graph]
    return {k: rng.random(s, dtype=np.float32) for k, s in shapes.items()}


def time_ms(engine: object, inputs: dict[str, np.ndarray], repeats: int) -> float:
    for _ in range(2):
        engine.run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def engines_present() -> list[str]:
    kinds = []
    if tensorrt_status() is None:
        kinds.append("tensorrt")
    if onnxruntime_status("cpu") is None or onnxruntime_status("cuda") is None:
        kinds.append("onnxruntime")
    return [*kinds, "torch"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="weights directory (default: shipped)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=("tensorrt", "onnxruntime", "torch"),
        help="engine kinds to measure (default: every one present)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp16", "fp32", "both"),
        default="fp16",
        help="GPU engines: half precision (the cloud's default), float32, or both",
    )
    parser.add_argument("--json", help="also write the JSON to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    wdir = weights_dir(args.weights)
    sizes = SIZES[:1] if args.quick else SIZES
    repeats = 3 if args.quick else args.repeats
    precisions = {"fp16": [True], "fp32": [False], "both": [False, True]}[args.precision]
    low_channels = int(json.loads((wdir / "icnet.json").read_text()).get("low_channels", 0))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        fused = export_fused(wdir, "carn_m_cloudseg", "icnet", Path(tmp) / "fused.onnx")
        for kind, fp16 in itertools.product(args.engines or engines_present(), precisions):
            for name, graph, outputs in (*GRAPHS, ("carn_m_cloudseg+icnet", "fused", ["ids", "low"])):
                source = fused if graph == "fused" else graph_source(wdir, name, graph)
                engine = create_engine(source, kind, args.threads, output_names=outputs, fp16=fp16)
                if any(
                    r["engine"] == engine.name and r["graph"] == graph and r["model"] == name for r in results
                ):
                    continue  # a CPU engine ignores the precision: measured already
                model = source.build_torch()
                for width, height in sizes:
                    inputs = feeds(graph, width, height, low_channels)
                    row = {
                        "model": name,
                        "graph": graph,
                        "engine": engine.name,
                        "size": f"{width}x{height}",
                        "ms": round(time_ms(engine, inputs, repeats), 2),
                        "params": sum(p.numel() for p in model.parameters()),
                        "gmacs": round(
                            count_macs(model, {k: torch.from_numpy(v) for k, v in inputs.items()}) / 1e9, 3
                        ),
                    }
                    results.append(row)
                    print(
                        f"{name:<22} {graph:<9} {engine.name:<17} {row['size']:>9} {row['ms']:8.1f} ms "
                        f"{row['params']:>8} params {row['gmacs']:>7} GMAC",
                        file=sys.stderr,
                    )
    seg = load_checkpoint(wdir / "icnet.pt")
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__,
        },
        "weights": str(wdir.name),
        "results": results,
        "low_branch_params": sum(p.numel() for p in seg.low.parameters()),
    }
    emit(report, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
