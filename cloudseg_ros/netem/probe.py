"""The measuring end of a network experiment: a process beside the robot graph.

It runs where the robot's ROS graph runs (inside the robot's network namespace, where
the robot's DDS is), listens like the demo's recorder (mIoU of fresh masks against the
camera's ground truth, latency, frames, bytes) and also records what the experiment
plots over time: each uplink frame (size, sequence), each feedback, each fresh mask's
latency, the controller's state. From sends and acknowledgements it counts the frames
in flight exactly as the edge defines them (sent, not acknowledged, younger than the
in-flight timeout), and it scores EVERY published mask (stale republishes too) against
its camera frame: the accuracy a consumer of ``segmentation/mask`` really gets.

Protocol with the experiment runner (stdout lines): ``ready``, then ``start <monotonic
seconds>`` once the first mask is back (and this probe has seen a feedback: until its
subscription matched the bridge's publisher, frames the edge saw acknowledged would count
as in flight here) and recording begins, then ``done`` after
``--duration`` seconds, when the JSON result is written to ``--out``.

  python -m cloudseg_ros.netem.probe --robot-domain 12 --cloud-domain 112 --out run.json --duration 60
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cloudseg_ros.bridge import keys
from cloudseg_ros.demo.observer import RELIABLE, DomainNode
from cloudseg_ros.demo.recorder import Recorder, _Bounded, _stamp
from cloudseg_ros.demo.report import robot_row
from cloudseg_ros.jsonsafe import json_safe
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.msg import ControllerState, EncodedFrame, Feedback, MaskInfo
from cloudseg_ros.nodes.controller_node import STATE_QOS
from cloudseg_ros.nodes.controller_node import TOPIC as CONTROLLER_TOPIC


class NetemRecorder(Recorder):
    """The demo's recorder plus timelines, in-flight counting and every-mask accuracy."""

    def __init__(self, robot_domain: int, cloud_domain: int, robot: str, out_dir: Path) -> None:
        # Everything the callbacks touch exists BEFORE the base class subscribes: a callback
        # that raises ends the observer's executor thread, and the probe would go deaf.
        self.robot = robot
        self.t0, self.t0_wall = time.monotonic(), time.time()
        self.sends: list[tuple[float, int, int, float]] = []  # (t, seq, bytes, edge clock at send)
        self.acks: list[tuple[float, int, float]] = []  # (t, last_seq, wall clock at arrival)
        self.latencies: list[tuple[float, float]] = []  # (t, ms) of fresh masks
        self.controller: list[dict[str, Any]] = []
        self.by_config: dict[str, ConfusionMatrix] = {}  # fresh masks by the point their frame was sent at
        self.masks_by_config: dict[str, int] = {}
        self.all_frames = ConfusionMatrix()
        self.masks_scored_all = 0
        self.feedback_seen = 0
        self._any_masks = _Bounded()
        super().__init__(robot_domain, cloud_domain, [robot], out_dir, snapshots=0)
        ns = f"/{robot}"
        # Latched: the changes made before this probe joined arrive too, timed by their stamps.
        self.robot_node.listen(
            ControllerState, f"{ns}/{CONTROLLER_TOPIC}", STATE_QOS, callback=self._on_controller
        )
        # Sends and acknowledgements are timed by a node of their own: the recorder's node spends
        # tens of milliseconds scoring each mask, and a feedback waiting behind that would look late.
        self.flow_node = DomainNode(robot_domain, "cloudseg_netem_flow")
        self.flow_node.listen(EncodedFrame, f"{ns}/{keys.UPLINK}", RELIABLE, raw=True, callback=self._on_send)
        self.flow_node.listen(
            Feedback, f"{ns}/{keys.FEEDBACK}", RELIABLE, callback=self._on_feedback, arrival=True
        )

    def start(self, duration_s: float) -> None:
        super().start(duration_s)
        self.t0, self.t0_wall = time.monotonic(), time.time()

    def close(self) -> None:
        super().close()
        self.flow_node.close()

    # ---------------------------------------------------------------- extra listeners
    # Sends and acknowledgements are kept from the start, not only inside the window: which
    # frames are still unacknowledged when the window opens depends on what came before.
    def _on_send(self, data: bytes) -> None:
        from rclpy.serialization import deserialize_message

        msg = deserialize_message(data, EncodedFrame)
        sent_wall = msg.send_stamp.sec + msg.send_stamp.nanosec * 1e-9
        self.sends.append((time.monotonic(), int(msg.seq), int(msg.encoded_size), sent_wall))

    def _on_feedback(self, msg: Feedback, arrived_wall: float) -> None:
        # Timed by the middleware's arrival stamp: this callback may run tens of milliseconds
        # later on a loaded machine (this process also scores masks), which would count an
        # acknowledged frame as still in flight.
        self.feedback_seen += 1
        self.acks.append((time.monotonic(), int(msg.last_seq), arrived_wall))

    def _on_controller(self, msg: ControllerState) -> None:
        if self.recording or msg.changed:
            when = _stamp(msg.header) * 1e-9 - (self.t0_wall - self.t0)  # when it happened, on this clock
            self.controller.append({
                "t": when, "state": msg.state, "index": int(msg.index), "config": msg.config,
                "config_kbps": float(msg.config_kbps), "rate_kbps": float(msg.rate_kbps),
                "queuing_ms": float(msg.queuing_ms), "changed": bool(msg.changed), "reason": msg.reason,
                "changes": int(msg.changes), "refusals": int(msg.refusals),
            })  # fmt: skip

    def _on_mask_info(self, robot: str, msg: MaskInfo) -> None:
        if self.recording and not msg.stale:
            self.latencies.append((time.monotonic(), float(msg.latency_ms)))
        super()._on_mask_info(robot, msg)

    def _on_mask(self, robot: str, msg: Any) -> None:
        super()._on_mask(robot, msg)
        if self.recording:
            from cloudseg_ros.demo.recorder import _as_array

            with self._lock:
                self._any_masks.put(_stamp(msg.header), np.array(_as_array(msg)))
            self._score_any(_stamp(msg.header))

    def _scored(self, robot: str, stamp: int, labels: np.ndarray, ids: np.ndarray) -> None:
        """Keep each fresh mask's score under the configuration its frame was captured at:
        the controller's last change before the capture, or "launch" (what the edge was
        launched with: a fixed run's point, the controller's start point before it spoke)."""
        captured = stamp * 1e-9 - (self.t0_wall - self.t0)  # camera stamp on this clock
        config = "launch"
        for c in self.controller:
            if c["changed"] and c["t"] <= captured:
                config = c["config"]
        with self._lock:
            matrix = self.by_config.setdefault(config, ConfusionMatrix())
            self.masks_by_config[config] = self.masks_by_config.get(config, 0) + 1
        matrix.update(labels, ids)

    def _on_labels(self, robot: str, msg: Any) -> None:
        super()._on_labels(robot, msg)
        self._score_any(_stamp(msg.header))

    def _score_any(self, stamp: int) -> None:
        with self._lock:
            labels = self._labels[self.robot].get(stamp)
            if labels is None or stamp not in self._any_masks:
                return
            ids = self._any_masks.pop(stamp)
        if ids.shape == labels.shape:
            self.all_frames.update(labels, ids)
            self.masks_scored_all += 1

    # ---------------------------------------------------------------- results
    def in_flight(self, timeout_s: float, skew_s: float = 0.05) -> dict[str, int]:
        """Most frames ever in flight: as the edge counts them (its own InFlightWindow replayed:
        sent, not acknowledged, not expired, the timeout doubling after each expiry as the
        edge's does), and without the timeout. A send is placed at the edge's own clock
        reading (EncodedFrame.send_stamp, taken a little after the edge counted the frame), an
        acknowledgement at its arrival here minus ``skew_s`` (this observer may see a feedback
        a little after the edge did); the timeout is shortened by the same tolerance."""
        from cloudseg_ros.bridge.flow import InFlightWindow

        events = sorted(
            [(wall, 0, seq) for _, seq, _, wall in self.sends]
            + [(wall - skew_s, 1, seq) for _, seq, wall in self.acks]
        )
        window = InFlightWindow(0, max(timeout_s - skew_s, 1e-3))  # 0: counts, never refuses
        acked, sent, worst, worst_raw = -1, set(), 0, 0
        for t, kind, seq in events:
            if kind == 1:
                acked = max(acked, seq)
                window.acknowledge(seq, now=t)
                continue
            sent.add(seq)
            window.sent(seq, now=t)
            if t < self.t0_wall:
                continue  # before the window: only builds the state
            worst_raw = max(worst_raw, sum(1 for s in sent if s > acked))
            worst = max(worst, window.in_flight(now=t))
        return {"max": worst, "max_ignoring_timeout": worst_raw}

    def result(self, duration_s: float, in_flight_timeout_s: float) -> dict[str, Any]:
        rec = self.records[self.robot]
        row = robot_row(rec, duration_s)
        captured = max(1, row["frames_captured"])
        fresh = row["masks_evaluated"]
        stale = row["stale_published"]
        t0 = self.t0
        out = {
            **{
                k: row[k]
                for k in (
                    "frames_captured",
                    "frames_sent",
                    "masks_received",
                    "masks_evaluated",
                    "stale_published",
                    "uplink_kbps",
                    "latency_ms_p50",
                    "latency_ms_p95",
                    "miou",
                    "fps",
                    "lr_size",
                    "codec",
                    "sr_model",
                    "engine",
                )
            },
            "latency_ms_max": max((v for _, v in self.latencies), default=math.nan),
            "stale_fraction": stale / max(1, stale + len(self.latencies)),
            "miou_all_frames": self.all_frames.miou(),
            "masks_scored_all_frames": self.masks_scored_all,
            "frames_captured_per_s": captured / duration_s,
            "fresh_masks_scored": fresh,
            "in_flight": self.in_flight(in_flight_timeout_s),
            "miou_by_config": {
                name: {"masks": self.masks_by_config[name], "miou": matrix.miou()}
                for name, matrix in sorted(self.by_config.items())
            },
            "timeline": {
                "sends": [(round(t - t0, 3), seq, b) for t, seq, b, _ in self.sends if t >= t0],
                "acks": [(round(t - t0, 3), seq) for t, seq, _ in self.acks if t >= t0],
                "latency": [(round(t - t0, 3), round(v, 1)) for t, v in self.latencies],
                "controller": [{**c, "t": round(c["t"] - t0, 3)} for c in self.controller],
            },
        }
        return json_safe(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="record one network experiment run (robot side)")
    p.add_argument("--robot-domain", type=int, required=True)
    p.add_argument("--cloud-domain", type=int, required=True)
    p.add_argument("--robot", default="car1")
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--in-flight-timeout", type=float, default=2.0)
    p.add_argument("--startup-timeout", type=float, default=120.0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
    out = Path(args.out)
    recorder = NetemRecorder(args.robot_domain, args.cloud_domain, args.robot, out.parent)
    try:
        print("ready", flush=True)
        deadline = time.monotonic() + args.startup_timeout
        next_note = time.monotonic() + 15.0
        while not (recorder.any_mask() and recorder.feedback_seen):
            if time.monotonic() > deadline:
                print("no mask came back", flush=True)
                return 4
            if time.monotonic() > next_note:  # for the log: what this observer does see
                next_note += 15.0
                seen = sorted(recorder.robot_node.topics())
                print(
                    f"probe: no mask yet; feedback {recorder.feedback_seen}, topics {seen}",
                    file=sys.stderr,
                    flush=True,
                )
            time.sleep(0.1)
        recorder.start(duration_s=args.duration)
        print(f"start {recorder.t0:.6f}", flush=True)
        time.sleep(args.duration)
        recorder.stop()
        out.write_text(json.dumps(recorder.result(args.duration, args.in_flight_timeout)) + "\n")
        print("done", flush=True)
    finally:
        recorder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
