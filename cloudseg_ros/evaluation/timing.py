"""Table 2: server time per stage at one frame size (default 2048x1024, the paper's),
measured in one run so the SR overhead is a ratio against segmentation-only.

Stages: H.264 decode of the received LR stream, SR, segmentation (LR data reuse), mask
encode (PNG of the class ids, the downlink payload). Segmentation-only = the segmenter on
the HR frame with no SR (what an HR stream would cost). The fused row runs SR and the
segmenter as one exported graph.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.engines import create_engine
from cloudseg_ros.engines.export import export_fused, graph_source
from cloudseg_ros.evaluation.frames import EvalFrame
from cloudseg_ros.sr.upscaler import Upscaler
from cloudseg_ros.train.data import SCALE, downscale, to_nchw


def _median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def stage_times(
    frame: EvalFrame,
    weights: Path,
    sr_model: str = "cloudseg",
    engine: str = "auto",
    num_threads: int = 2,
    repeats: int = 10,
    kbps: int = 750,
) -> dict:
    """Median ms per stage for one HR frame (any size, multiple of 32)."""
    from cloudseg_ros.codec import make_decoder, make_encoder

    height, width = frame.labels.shape
    lr = downscale(frame.hr, SCALE)
    lh, lw = lr.shape[:2]
    encoder = make_encoder("h264", width=lw, height=lh, bitrate_kbps=kbps, gop=1)
    packet = encoder.encode(lr).data
    encoder.close()
    decoder = make_decoder("h264")

    def decode() -> np.ndarray:
        return decoder.decode(packet, lw, lh)

    received = decode()
    upscaler = Upscaler(sr_model, engine, num_threads, weights)
    seg = create_engine(graph_source(weights, "icnet", "segmenter"), engine, num_threads, ["ids", "low"])
    lr_in = to_nchw(received)
    sr_out = upscaler.upscale(received, lr_in, width, height)[0]
    ids = seg.run({"hr": sr_out, "lr": lr_in})["ids"][0]
    hr_only = {"hr": to_nchw(frame.hr), "lr": to_nchw(lr)}
    ms = {
        "decode": _median_ms(decode, repeats),
        "sr": _median_ms(lambda: upscaler.upscale(received, to_nchw(received), width, height), repeats),
        "segmentation": _median_ms(lambda: seg.run({"hr": sr_out, "lr": lr_in}), repeats),
        "mask_encode": _median_ms(lambda: cv2.imencode(".png", ids), repeats),
        "segmentation_only_hr": _median_ms(lambda: seg.run(hr_only), repeats),
    }
    ms["total"] = ms["decode"] + ms["sr"] + ms["segmentation"] + ms["mask_encode"]
    out = {
        "size": [width, height],
        "lr_size": [lw, lh],
        "sr_model": upscaler.name,
        "engine": seg.name,
        "threads": num_threads,
        "ms": {k: round(v, 2) for k, v in ms.items()},
        "fps": {k: round(1e3 / v, 1) for k, v in ms.items() if v > 0},
        "sr_overhead_ratio": round(ms["sr"] / ms["segmentation_only_hr"], 3),
    }
    if upscaler.engine is not None:
        out["fused"] = _fused_ms(weights, upscaler.name, engine, num_threads, lr_in, repeats)
        out["fused"]["separate_ms"] = round(ms["sr"] + ms["segmentation"], 2)
        out["fused"]["total_ms"] = round(ms["decode"] + out["fused"]["ms"] + ms["mask_encode"], 2)
        out["fused"]["total_fps"] = round(1e3 / out["fused"]["total_ms"], 1)
    return out


def _fused_ms(
    weights: Path, sr_name: str, engine: str, num_threads: int, lr_in: np.ndarray, repeats: int
) -> dict:
    """SR + segmenter exported as ONE graph (lr -> ids): saves the host round trip of the
    HR float frame between two engine calls."""
    with tempfile.TemporaryDirectory() as tmp:
        source = export_fused(weights, sr_name, "icnet", Path(tmp) / "fused.onnx")
        fused = create_engine(source, engine, num_threads, ["ids", "low"])
        return {"engine": fused.name, "ms": round(_median_ms(lambda: fused.run({"lr": lr_in}), repeats), 2)}
