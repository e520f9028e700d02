"""Figure 5: accuracy vs uplink bandwidth with real H.264 (PyAV libx264, the project codec).

Each point encodes the evaluation clip (consecutive frames, one stream per scene seed) at
one (size, bitrate), measures kbps from the encoded bytes, decodes, runs the cloud
pipeline exactly as served, and scores mIoU against the HR labels:

* hr        : the camera frame, no downscaling;
* awstream  : downscale by s, upscale bilinear (AWStream-like degradation);
* cloudseg  : x4 downscale, fine-tuned SR (+ LR data reuse in the segmenter).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from cloudseg_ros.codec.base import DEFAULT_CHROMA
from cloudseg_ros.evaluation.frames import EvalFrame
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.segmenter import CloudPipeline

log = logging.getLogger(__name__)

# (method, downscale factor applied by the robot, SR on the cloud, bitrates in kbps)
DEFAULT_SWEEP: tuple[tuple[str, float, str, tuple[int, ...]], ...] = (
    ("hr", 1.0, "bilinear", (200, 400, 800, 1600, 3200, 6400)),
    ("awstream", 4 / 3, "bilinear", (100, 200, 400, 800, 1600, 3200)),
    ("awstream", 2.0, "bilinear", (50, 100, 200, 400, 800, 1600)),
    ("awstream", 4.0, "bilinear", (25, 50, 100, 200, 400, 800)),
    ("cloudseg", 4.0, "cloudseg", (25, 50, 100, 200, 400, 800)),
)


@dataclass
class Point:
    method: str
    width: int
    height: int
    target_kbps: int
    kbps: float
    miou: float
    person: float | None


def _size(width: int, height: int, factor: float) -> tuple[int, int]:
    """The robot's downscaled size: even (yuv420p), like imaging.resize.downscale."""
    w, h = round(width / factor), round(height / factor)
    return w - w % 2, h - h % 2


def measure(
    frames: list[EvalFrame],
    weights: Path,
    engine: str = "auto",
    num_threads: int = 2,
    fps: float = 10.0,
    gop: int = 30,
    sweep: tuple[tuple[str, float, str, tuple[int, ...]], ...] = DEFAULT_SWEEP,
    chroma: str = DEFAULT_CHROMA,
) -> list[Point]:
    """Every (method, size, bitrate) point; all streams with the same ``chroma`` sampling
    (like for like: every method gets the colour planes the edge sends)."""
    from cloudseg_ros.codec import check_chroma, make_decoder, make_encoder

    check_chroma(chroma)

    pipes: dict[str, CloudPipeline] = {}
    height, width = frames[0].labels.shape
    seeds = sorted({f.seed for f in frames})
    points = []
    for method, factor, sr, bitrates in sweep:
        pipe = pipes.setdefault(
            sr, CloudPipeline(sr_model=sr, engine=engine, num_threads=num_threads, weights_dir=weights)
        )
        w, h = _size(width, height, factor)
        for kbps in bitrates:
            cm, total_bytes = ConfusionMatrix(), 0
            for seed in seeds:
                clip = [f for f in frames if f.seed == seed]
                encoder = make_encoder(
                    "h264", width=w, height=h, fps=fps, bitrate_kbps=kbps, gop=gop, chroma=chroma
                )
                decoder = make_decoder("h264")
                for f in clip:
                    sent = (
                        f.hr
                        if (w, h) == (width, height)
                        else cv2.resize(f.hr, (w, h), interpolation=cv2.INTER_AREA)
                    )
                    packet = encoder.encode(sent)
                    total_bytes += len(packet.data)
                    received = decoder.decode(packet.data, w, h)
                    cm.update(f.labels, pipe.process(received, width, height, robot_id="fig5").class_ids)
                encoder.close()
                decoder.close()
            measured = total_bytes * 8 / (len(frames) / fps) / 1000
            person = cm.per_class().get("person")
            points.append(Point(method, w, h, kbps, round(measured, 1), cm.miou(), person))
            log.info(
                "fig5 %s %dx%d @%d kbps: measured %.0f kbps, mIoU %.4f",
                method,
                w,
                h,
                kbps,
                measured,
                cm.miou(),
            )
    return points


def frontier(points: list[Point]) -> list[Point]:
    """Pareto frontier (bandwidth up, accuracy up) over any configurations of one method."""
    best, out = -1.0, []
    for p in sorted(points, key=lambda p: p.kbps):
        if p.miou > best:
            out.append(p)
            best = p.miou
    return out


def bandwidth_to_reach(points: list[Point], target: float) -> float | None:
    """Least kbps reaching mIoU >= ``target`` on the frontier, linear in log(kbps) between
    frontier points; None when no configuration reaches it."""
    front = frontier(points)
    for i, p in enumerate(front):
        if p.miou >= target:
            if i == 0:
                return p.kbps
            q = front[i - 1]
            t = (target - q.miou) / (p.miou - q.miou)
            return math.exp(math.log(q.kbps) + t * (math.log(p.kbps) - math.log(q.kbps)))
    return None


def summarise(points: list[Point], miou_hr: float, margin: float = 0.02) -> dict:
    """Bandwidth each method needs for miou_hr - margin, and for CloudSeg's best accuracy
    (the paper's comparison), plus the HR/CloudSeg and AWStream/CloudSeg ratios."""
    by = {m: [p for p in points if p.method == m] for m in ("hr", "awstream", "cloudseg")}
    out: dict = {"points": [asdict(p) for p in points], "miou_hr_uncompressed": miou_hr}
    targets = {"miou_hr_minus_margin": miou_hr - margin}
    if by["cloudseg"]:
        targets["cloudseg_best_miou"] = max(p.miou for p in by["cloudseg"])
    for key, target in targets.items():
        need = {m: bandwidth_to_reach(pts, target) for m, pts in by.items()}
        ratios = {}
        for other in ("hr", "awstream"):
            if need.get(other) and need.get("cloudseg"):
                ratios[f"{other}_over_cloudseg"] = need[other] / need["cloudseg"]
        out[key] = {"target_miou": target, "kbps_needed": need, "ratios": ratios}
    out["margin"] = margin
    return out
