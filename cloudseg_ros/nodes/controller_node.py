"""controller_node: adapts the edge node's knobs to the uplink, through its parameter service.

Subscribes ``cloudseg/feedback`` (one message per frame the cloud received), feeds it to
:class:`cloudseg_ros.controller.policy.BitrateController` and, when that decides on
another point of the profile, sets the point's knobs on the edge node with ONE
``rcl_interfaces/srv/SetParametersAtomically`` call (``<edge_node>/set_parameters_atomically``):
the edge sees the whole configuration at once, restarts its stream at most once, and
either takes all of it or none. Every change is logged with its reason and published on
``cloudseg/controller`` (cloudseg_ros/ControllerState), together with a periodic status
for plots. The topic is latched (transient local, the last ``STATE_DEPTH`` messages): a
plot, RViz or ``ros2 topic echo`` started later still gets the current configuration and
the changes before it, each stamped when it happened. A refusal by the edge is logged with
the edge's reason; the controller keeps believing what the edge really runs.

The profile is loaded at start (``profile_file``, default: the shipped config/profile.yaml);
a missing, empty or inconsistent file stops the node with one line naming the file. Once the
edge answers, its ``camera_fps`` is compared with the profile's camera rate, and a mismatch is
logged as a warning that says what it does to the ladder and how to make a matching profile.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from cloudseg_ros.bridge import keys
from cloudseg_ros.controller.estimator import FeedbackSample
from cloudseg_ros.controller.policy import BitrateController, Change
from cloudseg_ros.controller.profile import load_profile
from cloudseg_ros.controller.settings import Settings
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.logutil import BurstLog
from cloudseg_ros.msg import ControllerState, Feedback
from cloudseg_ros.nodes.common import CheckedSubscription, run_node
from cloudseg_ros.nodes.params import Param, ParameterTable

TOPIC = "cloudseg/controller"
STATE_DEPTH = 50
# Latched: a subscriber that asks for transient local gets the last STATE_DEPTH messages when it
# joins; a volatile subscriber is served as before (the two are compatible).
STATE_QOS = QoSProfile(
    depth=STATE_DEPTH, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
S = Settings()
PARAMS = (
    Param("profile_file", "", "Pareto profile (YAML/JSON from `cloudseg profile`); empty = the shipped one",
          read_only=True),
    Param("edge_node", "edge", "Name of the edge node whose parameters are set (same namespace)", read_only=True),
    Param("frame_budget_ms", S.frame_budget_ms, "Climb the profile's configurations by frame size, each costing "
          "the rate that carries one frame in this long (the edge's in-flight window thins the frame rate); "
          "0 = by stream kbps (AWStream's ladder) [ms]", range=(0.0, 10_000.0), read_only=True),
    Param("min_accuracy_ratio", S.min_accuracy_ratio, "Leave off the ladder the points whose masks score "
          "under this x the top point's (the safest point is then the cheapest one left; 0 = keep all)",
          range=(0.0, 1.0), read_only=True),
    Param("start_kbps", S.start_kbps, "Start at the best profile point at or under this rate (0 = the safest) "
          "[kbit/s]", range=(0.0, 1e6), read_only=True),
    Param("start_index", S.start_index, "Profile point to start with instead (-1 = by start_kbps, 0 = safest)",
          range=(-1, 1000), read_only=True),
    Param("headroom", S.headroom, "Climb only to points whose kbps <= headroom x measured rate", range=(0.1, 1.0)),
    Param("degrade_delay_ms", S.degrade_delay_ms, "Median queuing delay that means congestion [ms]",
          range=(10.0, 10_000.0)),
    Param("probe_delay_ms", S.probe_delay_ms, "Queuing delay that aborts a probe [ms]", range=(5.0, 10_000.0)),
    Param("hold_s", S.hold_s, "Time at a point before probing the next one up [s]", range=(0.1, 600.0)),
    Param("climb_s", S.climb_s, "Between two climbs that went well [s]", range=(0.1, 600.0)),
    Param("idle_climb_s", S.idle_climb_s, "The same while the link is too idle to measure [s]", range=(0.1, 600.0)),
    Param("climb_factor", S.climb_factor,
          "A climb goes at most to the best point within this x the current kbps", range=(1.0, 100.0)),
    Param("max_frame_ms", S.max_frame_ms, "Climbs and step downs choose only points whose frame crosses the "
          "measured link within this [ms] (0 = no limit)", range=(0.0, 10_000.0)),
    Param("pause_hold_s", S.pause_hold_s, "Overdue feedback at a point the link carries (a pause) is waited out "
          "this long before stepping down [s]", range=(0.0, 60.0)),
    Param("probe_s", S.probe_s, "How long a probe must stay clean to be kept [s]", range=(0.1, 600.0)),
    Param("min_interval_s", S.min_interval_s, "Least time between two changes [s]", range=(0.1, 600.0)),
    Param("settle_s", S.settle_s, "After a step down, before another one [s]", range=(0.1, 600.0)),
    Param("feedback_timeout_s", S.feedback_timeout_s, "No feedback this long: go to the safest point [s]",
          range=(0.2, 600.0)),
    Param("first_feedback_s", S.first_feedback_s, "No feedback at all since start this long (the cloud may be "
          "loading its models): go to the safest point [s]", range=(0.2, 3600.0)),
    Param("refused_backoff_s", S.refused_backoff_s, "A point the edge refused is not tried again for this long [s]",
          range=(0.0, 3600.0)),
    Param("tick_s", 0.1, "How often the policy decides [s]", range=(0.01, 10.0), read_only=True),
    Param("status_period_s", 0.5, "Period of the status on cloudseg/controller [s]", range=(0.05, 60.0)),
)  # fmt: skip
TUNABLE = {"headroom", "degrade_delay_ms", "probe_delay_ms", "hold_s", "climb_s", "idle_climb_s",
           "climb_factor", "max_frame_ms", "pause_hold_s", "probe_s",
           "min_interval_s", "settle_s",
           "feedback_timeout_s", "first_feedback_s", "refused_backoff_s"}  # fmt: skip


def _settings(values: dict[str, Any]) -> Settings:
    s = Settings(
        frame_budget_ms=values["frame_budget_ms"], min_accuracy_ratio=values["min_accuracy_ratio"],
        start_kbps=values["start_kbps"],
        start_index=values["start_index"], **{k: values[k] for k in TUNABLE},
    )  # fmt: skip
    s.validate()
    return s


def _check(values: dict[str, Any]) -> str | None:
    try:
        _settings(values)
    except ValueError as exc:
        return str(exc)
    return None


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


class ControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("controller")
        self.params = ParameterTable(self, PARAMS, validate=_check, on_change=self._on_change)
        p = self.params
        from cloudseg_ros.paths import config_file

        path = p["profile_file"] or config_file("profile.yaml")
        try:
            self.ctl = BitrateController(load_profile(path), _settings(p.values))
        except ValueError as exc:
            raise ConfigError(f"profile {path}: {exc}") from None
        self.profile = self.ctl.profile  # the ladder the controller climbs (see frame_budget_ms)
        self.edge = AsyncParameterClient(self, p["edge_node"])
        self.state_pub = self.create_publisher(ControllerState, TOPIC, STATE_QOS)
        self._bursts = BurstLog.for_logger(self.get_logger())
        self.feedback_sub = CheckedSubscription(
            self, Feedback, keys.FEEDBACK, self._on_feedback,
            QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE),
            on_error=lambda reason: self._bursts.failure(keys.FEEDBACK, reason),
        )  # fmt: skip
        self._waiting_logged = False
        self._camera_checked = False
        self._was_silent = False
        self._next_status = 0.0
        self.create_timer(p["tick_s"], self._tick)
        self.get_logger().info(
            f"profile {path}, ladder by {self.profile.meta.get('ladder', 'stream kbps')}: "
            f"{len(self.profile)} points, "
            + ", ".join(f"{q.name} ({q.kbps:.0f} kbps, mIoU {q.miou:.3f})" for q in self.profile.points)
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_change(self, changed: dict[str, Any]) -> None:
        if TUNABLE & changed.keys():
            self.ctl.settings = _settings(self.params.values)

    def _on_feedback(self, msg: Feedback) -> None:
        send_s = msg.send_stamp.sec + msg.send_stamp.nanosec * 1e-9
        if send_s <= 0:
            return  # not one of our frames (or a peer that does not echo the stamp)
        recv_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        sample = FeedbackSample(
            int(msg.last_seq), int(msg.frame_size), send_s, recv_s, self._now(), msg.server_ms / 1e3
        )
        steps = self.ctl.estimator.clock_steps
        self.ctl.feedback(sample)
        if self.ctl.estimator.clock_steps > steps:
            self.get_logger().warn(
                "the robot's or the cloud's clock stepped (one-way delays moved, round trips did not): "
                "delay baseline moved, not read as queuing"
            )

    # ------------------------------------------------------------------ decisions
    def _tick(self) -> None:
        now = self._now()
        if self.ctl.index < 0 and not self.edge.services_are_ready():
            if not self._waiting_logged:
                self.get_logger().info(f"waiting for the parameter services of {self.params['edge_node']!r}")
                self._waiting_logged = True
            return
        if not self._camera_checked:
            self._check_camera()
        change = self.ctl.tick(now)
        if self.ctl.silent != self._was_silent:
            self._was_silent = self.ctl.silent
            log = self.get_logger().warn if self.ctl.silent else self.get_logger().info
            log(self.ctl.reason)
        if change is not None:
            self._apply(change)
        if now >= self._next_status:
            self._next_status = now + self.params["status_period_s"]
            self._publish(now, changed=False)

    def _check_camera(self) -> None:
        """Once the edge's parameter services answer: is its camera rate the profile's?"""
        self._camera_checked = True
        self.edge.get_parameters(["camera_fps"]).add_done_callback(self._camera_answered)

    def _camera_answered(self, future: Any) -> None:
        try:
            fps = float(future.result().values[0].double_value)
        except Exception:  # an edge without the parameter (another implementation): nothing to compare
            return
        problem = self.profile.camera_mismatch(fps)
        if problem:
            self.get_logger().warn(problem)

    def _apply(self, change: Change) -> None:
        if not self.edge.services_are_ready():
            # The edge is gone (crashed, restarting): a request now is never answered, and its
            # future would stay in the client for good, one per attempt. Not sent; the policy
            # gives the change up after request_timeout_s, as it would an unanswered one.
            self.get_logger().warn(
                f"{self.params['edge_node']!r} does not answer: {self.profile[change.index].name} not sent",
                throttle_duration_sec=10.0,
            )
            return
        point = self.profile[change.index]
        params = [Parameter(name, value=value) for name, value in point.knobs.items()]
        future = self.edge.set_parameters_atomically(params)
        future.add_done_callback(lambda f, c=change: self._answered(c, f))

    def _answered(self, change: Change, future: Any) -> None:
        now = self._now()
        old = "-" if change.previous < 0 else self.profile[change.previous].name
        new = self.profile[change.index].name
        try:
            result = future.result().result
            ok, reason = result.successful, result.reason
        except Exception as exc:  # the service went away mid-call
            ok, reason = False, f"no answer: {exc}"
        if ok:
            if self.ctl.confirmed(change, now) is None:
                return
            self.get_logger().info(f"{old} -> {new} [{change.state.value}]: {change.reason}")
            self._publish(now, changed=True)
        else:
            self.ctl.refused(change, reason or "no reason given", now)
            self.get_logger().warn(f"edge refused {new} (staying at {old}): {reason or 'no reason given'}")
            self._publish(now, changed=False)

    def _publish(self, now: float, changed: bool) -> None:
        st = self.ctl.status(now)
        msg = ControllerState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.state, msg.index = st.state.value, st.index
        if st.index >= 0:
            point = self.profile[st.index]
            msg.config, msg.config_kbps, msg.config_miou = point.name, point.kbps, point.miou
            msg.knobs = json.dumps(dict(point.knobs), sort_keys=True)
        msg.rate_kbps, msg.sent_kbps, msg.queuing_ms = _nan(st.rate_kbps), st.sent_kbps, _nan(st.queuing_ms)
        msg.changed, msg.reason = changed, st.reason
        msg.changes, msg.refusals = st.changes, st.refusals
        self.state_pub.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(ControllerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
