"""The control loop replayed on a trace in simulated time: a minute of link in a second.

The netem experiment runs the real node graph over a shaped link in real time, one minute
per configuration, on a machine whose load moves a run's mIoU by a few hundredths; telling
two controller designs apart that way takes hours, on three traces. This replays the same
loop in simulated time, so a design can be judged on every trace at many offsets:

* the link: the trace's rate, changed as the netem driver changes the tc rate
  (:meth:`TraceDriver.window`'s rule), a FIFO queue, ``prop_s`` each way;
* the edge: the camera's frames at the point's frame-rate cap, sent only when the edge's
  real in-flight window (:class:`InFlightWindow`, with its slow-link rule) has room, each as
  big as the encoder makes it: an H.264 point spends its bit budget per frame
  (``bitrate_kbps / send fps``, the encoder's constant-frame-rate time base) whatever the
  window skips, and the first frame after a change is a key frame (``key_factor`` x that
  plus ``key_extra_bytes``: measured in netem runs, 1.7-2.9x at 1024x512, a kilobyte at x8);
* the cloud: one frame at a time, ``server_s`` each; feedback back after ``prop_s``;
* the controller: the real :class:`BitrateController`, ticked every 0.1 s, its changes
  applied ``apply_s`` later.

Each mask is scored with the profile's accuracy of the sent frames of its point
(``miou_fresh``): the replay shows what a policy does to latency and to the masks, not the
masks themselves. The netem experiment stays the measurement; this is the design tool.
No ROS, no threads: plain functions on plain data.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.controller.estimator import FeedbackSample
from cloudseg_ros.controller.policy import BitrateController
from cloudseg_ros.controller.profile import Profile, ProfilePoint
from cloudseg_ros.controller.settings import Settings
from cloudseg_ros.netem.trace import Trace

REFILL_BYTES = 1600  # what a tc rate change lets through (see netem/shaper.py)


@dataclass(frozen=True)
class ReplayLink:
    """The parts of the loop that are not the policy."""

    camera_fps: float = 10.0
    prop_s: float = 0.02  # each way (the netem relay's default delay)
    server_s: float = 0.08  # cloud time per frame
    max_in_flight: int = 2
    slow_s: float = 0.4  # the edge's in_flight_slow_ms
    window_timeout_s: float = 2.0
    key_factor: float = 2.2
    key_extra_bytes: int = 800
    apply_s: float = 0.05  # a parameter change reaches the edge this much later
    step_s: float = 0.002


@dataclass
class ReplayResult:
    """What one replay produced."""

    name: str
    masks: list[tuple[float, float, str]] = field(default_factory=list)  # (send s, latency s, point)
    changes: int = 0
    score: float = math.nan  # mean accuracy of the masks (the profile's per point)
    p50_ms: float = math.nan
    p95_ms: float = math.nan

    def summary(self) -> dict[str, float | int | str | None]:
        """As JSON; a run that got no mask back (a point far over the link) has no score or
        latencies: None."""

        def rounded(value: float, digits: int | None = None) -> float | int | None:
            return None if math.isnan(value) else round(value, digits)

        return {"name": self.name, "score": rounded(self.score, 4), "p50_ms": rounded(self.p50_ms),
                "p95_ms": rounded(self.p95_ms), "masks": len(self.masks), "changes": self.changes}  # fmt: skip


def frame_bytes(point: ProfilePoint, camera_fps: float) -> float:
    """Bytes of one predicted frame of ``point`` (see the module docstring)."""
    return point.frame_kbit(camera_fps) * 125


def drain(queue: deque[list], budget: float) -> list[list]:
    """Serve a FIFO link for one step: entries ``[id, left, ...]`` lose ``budget`` (the unit of
    ``left``) in order; returns the entries that finished crossing, first first."""
    done = []
    while queue and budget > 0:
        head = queue[0]
        used = min(budget, head[1])
        head[1] -= used
        budget -= used
        if head[1] <= 0:
            done.append(queue.popleft())
    return done


def _link_rates(
    trace: Trace, offset_s: float, duration_s: float, step_s: float = 0.1
) -> list[tuple[float, float]]:
    """(from s, kbps) as the netem driver sets them: one rate per window of steps that holds
    four refills' worth of the trace's bytes, at most a second."""
    out, t = [], 0.0
    while t < duration_s + 5.0:
        n, rate = trace.window(offset_s + t, step_s, 10, REFILL_BYTES)
        out.append((t, rate))
        t += n * step_s
    return out


def replay(
    trace: Trace,
    profile: Profile,
    duration_s: float = 60.0,
    offset_s: float = 0.0,
    settings: Settings | None = None,
    fixed: str | None = None,
    link: ReplayLink | None = None,
) -> ReplayResult:
    """One run: the controller with ``settings``, or the profile point named ``fixed``."""
    link = link or ReplayLink()
    ctl = None if fixed else BitrateController(profile, settings or Settings())
    ladder = ctl.profile if ctl else profile
    quality = {
        p.name: (p.miou if p.miou_fresh is None else p.miou_fresh)
        for p in [*profile.measured, *profile.points]
    }
    point = profile[profile.index_of(fixed)] if fixed else None
    result = ReplayResult(fixed or "controller")
    window = InFlightWindow(link.max_in_flight, link.window_timeout_s, link.slow_s)
    rates = _link_rates(trace, offset_s, duration_s)
    rate_i = 0
    queue: deque[list] = deque()  # [seq, bytes left, size, send s]
    cloud_free = 0.0
    acks: list[tuple[float, FeedbackSample]] = []
    pending: tuple[float, object] | None = None
    seq, key_next, next_frame, next_due, next_tick = 0, True, 0.0, 0.0, 0.0
    offset_clock = 1000.0  # the cloud's clock is not the robot's
    steps = int(duration_s / link.step_s)
    for k in range(steps):
        t = k * link.step_s
        if ctl is not None and t >= next_tick:
            next_tick += 0.1
            if pending is None:
                change = ctl.tick(t)
                if change is not None:
                    pending = (t + link.apply_s, change)
            if pending is not None and t >= pending[0]:
                change = pending[1]
                pending = None
                if ctl.confirmed(change, t) is not None:
                    point, key_next = ladder[change.index], True
                    next_due = t
        if point is not None and t >= next_frame:
            next_frame += 1 / link.camera_fps
            cap = float(point.knobs.get("fps_cap", 0.0))
            if (cap <= 0 or t >= next_due - 1e-3 / cap) and window.has_room(t):
                if cap > 0:
                    next_due = max(next_due + 1 / cap, t - 0.5 / cap)
                seq += 1
                base = frame_bytes(point, link.camera_fps) * (0.85 + 0.3 * ((seq * 7919) % 11) / 10)
                size = int(base * link.key_factor + link.key_extra_bytes) if key_next else int(base)
                key_next = False
                window.sent(seq, t)
                queue.append([seq, size, size, t, point.name])
        while rate_i + 1 < len(rates) and rates[rate_i + 1][0] <= t:
            rate_i += 1
        for head in drain(queue, rates[rate_i][1] * 125 * link.step_s):
            recv = t + link.prop_s
            cloud_free = max(recv, cloud_free) + link.server_s
            arrival = cloud_free + link.prop_s
            acks.append((arrival, FeedbackSample(head[0], head[2], head[3], recv + offset_clock, arrival,
                                                 cloud_free - recv)))  # fmt: skip
            result.masks.append((head[3], arrival - head[3], head[4]))
        if acks and acks[0][0] <= t:
            acks.sort(key=lambda a: a[0])
            while acks and acks[0][0] <= t:
                _, sample = acks.pop(0)
                window.acknowledge(sample.seq, sample.server_s, now=t)
                if ctl is not None:
                    ctl.feedback(sample)
    result.changes = ctl.changes - 1 if ctl is not None and ctl.changes else 0
    if result.masks:
        lat = sorted(m[1] for m in result.masks)
        result.score = statistics.fmean(quality[m[2]] for m in result.masks)
        result.p50_ms = lat[len(lat) // 2] * 1e3
        result.p95_ms = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1e3
    return result
