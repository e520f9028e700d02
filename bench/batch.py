"""Batching benchmark: is one inference call over N robots' frames faster than N calls?

    python bench/batch.py                          # 1024x512, batch 1 2 4 8, every engine present
    python bench/batch.py --repeats 3 --engines onnxruntime
    python bench/batch.py --engines torch --sr-model cloudseg --size 2048x1024   # on a GPU
    python bench/batch.py --json FILE              # also write the JSON there

Times ``CloudPipeline.process_batch`` on N key frames of N different robots (bilinear SR
+ the segmenter's key-frame graph; ``--selection useful`` times the decode graph instead),
so it measures what the cloud's worker does with ``max_batch`` = N. The segmenter is
re-exported into a temp dir first (dynamic batch axis, whatever the shipped ONNX has).
Batch sizes are interleaved within each repeat so that a load change on a shared machine
hits all of them alike; times are medians. Reports ms per call, ms per frame, frames/s and
per-frame time relative to batch 1, all from the same run. Prints a table on stderr and
the JSON on stdout.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import emit

from cloudseg_ros.engines import FUSE_MODES
from cloudseg_ros.engines.export import export_model
from cloudseg_ros.engines.select import onnxruntime_status
from cloudseg_ros.models.checkpoint import weights_dir
from cloudseg_ros.segmenter import BatchItem, CloudPipeline
from cloudseg_ros.sr.upscaler import LEARNED


def engines_present() -> list[str]:
    kinds = ["onnxruntime"] if onnxruntime_status("cpu") is None or onnxruntime_status("cuda") is None else []
    try:
        import torch  # noqa: F401
    except (ImportError, OSError):
        return kinds
    return [*kinds, "torch"]


def _gpu_name() -> str | None:
    try:
        import torch
    except (ImportError, OSError):
        return None
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def export_checkpoint(source: Path, name: str, directory: Path) -> None:
    """Copy the checkpoint and export it with the current exporter (dynamic batch)."""
    for suffix in (".pt", ".json"):
        shutil.copy(source / f"{name}{suffix}", directory / f"{name}{suffix}")
    export_model(directory, name)


def frames(batch: int, width: int, height: int, selection: str) -> list[BatchItem]:
    rng = np.random.default_rng(batch)
    return [
        BatchItem(
            rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8),
            width,
            height,
            selection,
            f"robot{i}",
        )
        for i in range(batch)
    ]


def measure(pipe: CloudPipeline, batches: list[int], args: argparse.Namespace) -> dict[int, list[float]]:
    """ms per process_batch call, per batch size; sizes interleaved within each repeat."""
    inputs = {b: frames(b, args.width, args.height, args.selection) for b in batches}
    if args.selection == "useful":  # store key features for every robot first
        pipe.process_batch(frames(max(batches), args.width, args.height, "key"))
    times: dict[int, list[float]] = {b: [] for b in batches}
    for rep in range(args.warmup + args.repeats):
        for b in batches:
            start = time.perf_counter()
            pipe.process_batch(inputs[b])
            if rep >= args.warmup:
                times[b].append((time.perf_counter() - start) * 1e3)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="weights directory with icnet.pt/.json (default: shipped)")
    parser.add_argument("--segmenter", default="icnet")
    parser.add_argument("--sr-model", default="bilinear")
    parser.add_argument("--engines", nargs="+", help="default: every engine present")
    parser.add_argument("--size", default="1024x512", help="HR size WxH")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--selection", choices=("key", "useful"), default="key")
    parser.add_argument("--fuse", choices=FUSE_MODES, default="auto", help="SR fused into the segmenter")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", help="also write the JSON to this file")
    args = parser.parse_args()
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    batches = sorted(set(args.batches))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in (args.segmenter, LEARNED.get(args.sr_model)):
            if name is not None:  # the SR model too, unless it is an interpolation
                export_checkpoint(weights_dir(args.weights), name, Path(tmp))
        for kind in args.engines or engines_present():
            pipe = CloudPipeline(
                sr_model=args.sr_model,
                segmenter=args.segmenter,
                engine=kind,
                num_threads=args.threads,
                weights_dir=tmp,
                fuse=args.fuse,
            )
            engine, fused, times = pipe.engine, pipe.fused is not None, measure(pipe, batches, args)
            del pipe  # its sessions' threads must not compete with the next engine's
            gc.collect()
            base = statistics.median(times[batches[0]]) / batches[0]
            print(
                f"{engine}  {args.size}  sr={args.sr_model}  graph={args.selection}  fused={fused}",
                file=sys.stderr,
            )
            print("  batch  ms/call  ms/frame  frames/s  per-frame vs first", file=sys.stderr)
            for b in batches:
                call = statistics.median(times[b])
                row = {
                    "engine": engine,
                    "fused": fused,
                    "batch": b,
                    "ms_per_call": round(call, 1),
                    "ms_per_frame": round(call / b, 1),
                    "frames_per_s": round(1e3 * b / call, 2),
                    "per_frame_vs_batch1": round(call / b / base, 3),
                    "ms_per_call_min": round(min(times[b]), 1),
                    "ms_per_call_max": round(max(times[b]), 1),
                }
                results.append(row)
                print(
                    f"  {b:>5} {row['ms_per_call']:8.1f} {row['ms_per_frame']:9.1f} "
                    f"{row['frames_per_s']:9.2f} {row['per_frame_vs_batch1']:10.3f}",
                    file=sys.stderr,
                )
    report = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "load_avg": [round(v, 2) for v in os.getloadavg()],
            "threads": args.threads,
            "gpu": _gpu_name(),
        },
        "size": args.size,
        "sr_model": args.sr_model,
        "segmenter": args.segmenter,
        "selection": args.selection,
        "repeats": args.repeats,
        "results": results,
    }
    emit(report, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
