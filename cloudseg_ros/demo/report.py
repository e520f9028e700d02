"""The demo's report: report.json, and the short table printed at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cloudseg_ros.demo.recorder import RobotRecord
from cloudseg_ros.jsonsafe import json_safe
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.metrics.latency import LatencyWindow


def _size(wh: tuple[int, int]) -> str:
    return f"{wh[0]}x{wh[1]}"


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def robot_row(rec: RobotRecord, duration_s: float) -> dict[str, Any]:
    return {
        "robot": rec.robot,
        "frames_captured": rec.frames_captured,
        "frames_sent": rec.frames_sent,
        "key_frames": rec.key_frames,
        "frames_segmented": rec.frames_segmented,
        "masks_received": rec.masks_received,
        "masks_evaluated": rec.masks_evaluated,
        "stale_published": rec.stale_published,
        "uplink_kbps": rec.uplink_bytes * 8 / 1000 / duration_s,
        "downlink_kbps": rec.downlink_bytes * 8 / 1000 / duration_s,
        "latency_ms_p50": rec.latency.percentile(50),
        "latency_ms_p95": rec.latency.percentile(95),
        "miou": rec.confusion.miou(),
        "per_class_iou": rec.confusion.per_class(),
        "fps": rec.masks_received / duration_s,
        "hr_size": _size(rec.hr_size),
        "lr_size": _size(rec.lr_size),
        "codec": rec.codec,
        "sr_model": rec.sr_model,
        "segmenter": rec.segmenter,
        "engine": rec.engine,
        "sr_fused": rec.sr_fused,
        "server_ms": {stage: _mean(v) for stage, v in rec.stage_ms.items()},
    }


def build_report(records: Sequence[RobotRecord], duration_s: float, extra: dict[str, Any]) -> dict[str, Any]:
    """Fleet totals at the top level (for one robot: that robot's figures), rows per robot.

    Counts, kbps and fps are summed over the robots; latency, mIoU and server stage times are
    pooled over every robot's samples (not averaged per robot); sizes, codec and models are
    the first robot's (every robot of a demo runs the same)."""
    rows = [robot_row(r, duration_s) for r in records]
    pooled = ConfusionMatrix()
    latency = LatencyWindow(10**7)
    for r in records:
        pooled.merge(r.confusion)
        latency.merge(r.latency)
    total = {k: sum(row[k] for row in rows) for k in (
        "frames_captured", "frames_sent", "key_frames", "frames_segmented", "masks_received",
        "masks_evaluated", "stale_published", "uplink_kbps", "downlink_kbps", "fps")}  # fmt: skip
    first = rows[0]
    report = {
        **total,
        "latency_ms_p50": latency.percentile(50),
        "latency_ms_p95": latency.percentile(95),
        "miou": pooled.miou(),
        "per_class_iou": pooled.per_class(),
        **{
            k: first[k]
            for k in ("hr_size", "lr_size", "codec", "sr_model", "segmenter", "engine", "sr_fused")
        },
        # pooled over every robot's samples (a robot without masks has none, and weighs nothing)
        "server_ms": {
            s: _mean([v for r in records for v in r.stage_ms.get(s, [])]) for s in first["server_ms"]
        },
        "duration_s": duration_s,
        "robots": rows,
        **extra,
    }
    return json_safe(report)


def summary_table(report: dict[str, Any]) -> str:
    def f(v: Any, spec: str = ".1f") -> str:
        return "-" if v is None else format(v, spec)

    lines = [
        f"cloudseg demo: {len(report['robots'])} robot(s), {report['duration_s']:.0f} s, "
        f"{report['hr_size']} -> {report['lr_size']} {report['codec']}, sr={report['sr_model']}, "
        f"engine={report['engine']}",
        f"{'robot':<8}{'captured':>9}{'sent':>7}{'masks':>7}{'fps':>6}{'up kbps':>9}{'down kbps':>10}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'mIoU':>7}",
    ]
    for row in report["robots"]:
        lines.append(
            f"{row['robot']:<8}{row['frames_captured']:>9}{row['frames_sent']:>7}{row['masks_received']:>7}"
            f"{f(row['fps']):>6}{f(row['uplink_kbps'], '.0f'):>9}{f(row['downlink_kbps'], '.0f'):>10}"
            f"{f(row['latency_ms_p50'], '.0f'):>8}{f(row['latency_ms_p95'], '.0f'):>8}{f(row['miou'], '.3f'):>7}"
        )
    server = report["server_ms"]
    lines.append(
        ("cloud per frame (SR fused into segment): " if report.get("sr_fused") else "cloud per frame: ")
        + ", ".join(f"{k} {f(v)} ms" for k, v in server.items())
        + f"; startup {f(report.get('startup_s'))} s"
    )
    return "\n".join(lines)
