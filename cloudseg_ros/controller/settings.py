"""The controller's thresholds and timings: the node's parameters, as plain data.

Kept apart from the policy (policy.py) so that the node, the replay and the netem
experiment can build, check and print settings without the state machine, and so that
every knob's meaning sits in one short file. Each field's comment says what it bounds;
the policy's docstring says how they work together.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudseg_ros.controller.profile import Profile


@dataclass
class Settings:
    """Thresholds and timings of the policy (the controller node's parameters)."""

    frame_budget_ms: float = 200.0  # climb the frame-size ladder, a frame per this long (0: stream kbps)
    start_kbps: float = 150.0  # begin at the best point at or under this rate (0: the safest)
    start_index: int = -1  # or at this profile point (-1: by start_kbps)
    headroom: float = 0.8  # a point is chosen upwards only if kbps <= headroom * rate
    degrade_delay_ms: float = 300.0  # median queuing delay that means congestion
    probe_delay_ms: float = 120.0  # queuing that aborts a probe / must be gone to leave degrade
    delay_window_s: float = 1.0  # queuing is judged over the frames sent this recently
    rate_window_s: float = 2.0
    base_window_s: float = 30.0
    min_samples: int = 3  # frames of a point needed before judging it
    min_interval_s: float = 1.0  # between any two changes
    settle_s: float = 1.5  # after a step down, before the next one
    hold_s: float = 4.0  # in steady, before probing after a step down or a failed probe
    climb_s: float = 3.0  # between two climbs that both went well
    idle_climb_s: float = 2.0  # the same while the link is too idle to even measure its rate
    climb_factor: float = 4.0  # a climb goes at most to this x the current kbps
    max_frame_ms: float = 100.0  # only points whose frame crosses the measured link this fast (0: off)
    min_accuracy_ratio: float = 0.7  # points whose masks score under this x the top point's are left off
    probe_s: float = 2.0
    probe_backoff_max_s: float = 60.0
    pause_hold_s: float = 2.0  # a paused link is waited out this long before stepping down
    probe_memory_s: float = 15.0  # congestion this soon after climbing to a point counts as a failed probe
    feedback_timeout_s: float = 2.5
    first_feedback_s: float = 15.0  # no feedback at all yet (the cloud may be loading its models)
    refused_backoff_s: float = 30.0
    request_timeout_s: float = 3.0

    def validate(self) -> None:
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom={self.headroom} must be within (0, 1]")
        if not 0 < self.probe_delay_ms < self.degrade_delay_ms:
            raise ValueError("need 0 < probe_delay_ms < degrade_delay_ms")
        if self.pause_hold_s < 0:
            raise ValueError(f"pause_hold_s={self.pause_hold_s} must be >= 0")
        intervals = (self.min_interval_s, self.settle_s, self.hold_s, self.probe_s, self.feedback_timeout_s,
                     self.first_feedback_s)  # fmt: skip
        if min(intervals) <= 0:
            raise ValueError("intervals must be > 0")
        if self.frame_budget_ms < 0:
            raise ValueError(f"frame_budget_ms={self.frame_budget_ms} must be >= 0 (0: stream-rate ladder)")
        if self.max_frame_ms < 0:
            raise ValueError(f"max_frame_ms={self.max_frame_ms} must be >= 0 (0: no limit)")
        if not 0 <= self.min_accuracy_ratio <= 1:
            raise ValueError(f"min_accuracy_ratio={self.min_accuracy_ratio} must be within [0, 1]")
        if self.climb_factor < 1:
            raise ValueError(f"climb_factor={self.climb_factor} must be >= 1")
        if self.min_samples < 1:
            raise ValueError("min_samples must be >= 1")
        if self.start_kbps < 0 or self.start_index < -1:
            raise ValueError("need start_kbps >= 0 and start_index >= -1 (-1: by start_kbps)")

    def first_index(self, profile: Profile) -> int:
        """The point the edge starts at. Not the safest by default: any cellular uplink carries
        a hundred kbit/s or so, and the climb from the bottom costs seconds of poor masks
        (startup steps down within a second or two where the link is smaller)."""
        if self.start_index >= 0:
            return self.start_index
        return profile.fitting(self.start_kbps) if self.start_kbps > 0 else 0
