"""Reports as numbers come out of short or failed runs: no crash, strict JSON.

Verifies: a netem run that scored no mask (mIoU and latency null: a fixed top point through a
long outage) neither stops the experiment's verdicts and table (a TypeError lost every earlier
run's results) nor counts as the best fixed point; NaN anywhere in a report, tuples included,
is written as null (Python's default wrote a bare NaN, which strict JSON parsers refuse);
the demo's fleet stage times pool every robot's samples; the netem probe counts frames in
flight with the edge's own window (its timeout backs off).
"""

from __future__ import annotations

import json
import math

import numpy as np

from cloudseg_ros.jsonsafe import dumps, json_safe
from cloudseg_ros.netem.experiment import evaluate_targets, summary_table


def _run(name: str, miou: float | None, p95: float | None, controller: bool = False) -> dict:
    return {
        "name": name, "controller": controller, "config": None if controller else name,
        "config_kbps": None if controller else 100.0, "miou": miou, "miou_all_frames": miou,
        "latency_ms_p50": p95, "latency_ms_p95": p95, "frames_sent": 10, "masks_received": 0,
        "stale_fraction": 0.0, "uplink_kbps": 50.0, "config_changes": 2, "changes_per_2s": 0.1,
        "max_in_flight": 2, "in_flight_max": 1, "shaper_backlog_bytes_max": 0.0,
    }  # fmt: skip


def test_a_run_without_a_scored_mask_does_not_stop_the_verdicts() -> None:
    rows = [_run("ctl", 0.5, 400.0, controller=True), _run("top", None, None), _run("low", 0.4, 300.0)]
    targets = evaluate_targets(rows, median_kbps=200.0, duration_s=60.0)
    assert targets["best_bounded_fixed"] == "low" and targets["controller_miou_ge_best_bounded_fixed"]
    blind = [_run("ctl", None, None, controller=True), _run("low", 0.4, 300.0)]
    assert evaluate_targets(blind, 200.0, 60.0)["controller_miou_ge_best_bounded_fixed"] is False
    table = summary_table({
        "trace": "t", "trace_offset_s": 0.0, "duration_s": 60.0, "link_median_kbps": 200.0, "mode": "loopback",
        "delay_ms": 20.0, "loss": 0.0, "runs": rows, "targets": targets,
    })  # fmt: skip
    assert "top" in table


def test_reports_are_strict_json() -> None:
    report = {"timeline": [(1.0, math.nan)], "p95": np.float32("inf"), 3: np.int64(7), "ok": [0.5]}
    text = dumps(report)
    assert json.loads(text) == {"timeline": [[1.0, None]], "p95": None, "3": 7, "ok": [0.5]}
    assert json_safe((np.float64(2.5),)) == [2.5]


def test_fleet_server_times_pool_every_robots_samples() -> None:
    """car1 10/20/30 ms, car2 nothing yet: the fleet's stage time is 20 ms (it was the mean of
    per-robot means, and a robot without masks made every stage null)."""
    from cloudseg_ros.demo.recorder import RobotRecord
    from cloudseg_ros.demo.report import build_report

    car1, car2, car3 = RobotRecord("car1"), RobotRecord("car2"), RobotRecord("car3")
    car1.stage_ms["segment"] += [10.0, 20.0, 30.0]
    car3.stage_ms["segment"] += [60.0]
    report = build_report([car1, car2], 10.0, {})
    assert report["server_ms"]["segment"] == 20.0 and report["robots"][1]["server_ms"]["segment"] is None
    assert build_report([car1, car3], 10.0, {})["server_ms"]["segment"] == 30.0  # not (20 + 60) / 2


def test_the_probe_counts_frames_in_flight_as_the_edge_does() -> None:
    """The edge's timeout doubles after an expiry: a frame sent 0.1 s after one that expired
    stays in flight for 4 s, not 2. The probe applied a fixed 2 s to each frame and counted
    2 where the edge held 3 (a forced send: the window target could not catch it)."""
    from types import SimpleNamespace

    from cloudseg_ros.netem.probe import NetemRecorder

    sends = [(None, seq, None, t) for seq, t in ((1, 0.0), (2, 0.1), (3, 2.05), (4, 2.2))]
    probe = SimpleNamespace(sends=sends, acks=[], t0_wall=0.0)
    counted = NetemRecorder.in_flight(probe, timeout_s=2.0, skew_s=0.0)
    assert counted == {"max": 3, "max_ignoring_timeout": 4}
    probe.acks = [(None, 2, 2.1)]  # 1 and 2 acknowledged before 3 and 4 go out
    assert NetemRecorder.in_flight(probe, timeout_s=2.0, skew_s=0.0)["max"] == 2
