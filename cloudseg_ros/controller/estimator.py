"""What the cloud's feedback says about the uplink: delivered rate and queuing delay.

Every frame the cloud receives comes back as one feedback sample with the robot's send
time (robot clock), the cloud's receive time (cloud clock) and the frame size. The two
clocks are not synchronised, so a one-way delay ``recv - send`` holds an unknown
constant offset. Only differences are used:

* **queuing delay** of a frame = its one-way delay minus the smallest one-way delay of
  the recent past (the offset, the propagation delay and the smallest frame's
  transmission cancel out). It is what a frame waited behind other bytes plus its own
  extra transmission time: exactly the part of latency a smaller configuration removes.
* **delivery rate** = bytes / time the link was busy delivering them (BBR-style). A
  frame that arrived after frame ``i-1`` had already arrived and later than it could
  have with no queue (send time + minimum one-way delay) was queued behind it: the link
  spent ``recv_i - recv_{i-1}`` on its ``size_i`` bytes. A frame that met an idle link
  took ``owd_i - min owd`` longer than the fastest recent frame, which is the
  transmission time of the bytes it had more than that frame. Unlike bytes per
  wall-clock second this does not fall when the sender idles (few frames in flight, a
  frame-rate cap), so it measures what the link could carry, not what we happened to
  send. Samples shorter than ``min_service_s`` (a token bucket's burst, timer noise)
  or idle-link frames less than ``min_extra_bytes`` larger than the fastest one say
  nothing about the rate and are skipped; ``None`` means "too idle to tell".

A step of either clock (NTP setting the time) shifts every later one-way delay by the
step. A cloud clock stepping forward, or the robot's stepping back, would read as that
much queuing until the minimum ages out of its window (30 s at the lowest configuration).
The round trip ``arrival - send - server time`` is read on the robot's clock alone and
moves with the uplink's queuing (plus the downlink's, a few ms of jitter). When a frame's
one-way delay over its floor exceeds its round trip over its floor (the floors: the third
smallest of the window, see ``_floor``) by more than ``clock_step_s``, for
``clock_step_samples`` frames in a row, the clocks moved: the minimum is moved by the
smallest such excess (no frame's queuing then reads below its round trip's) and the
samples from before the step are dropped (their receive times are on the old footing and
would make one long "service" time). ``clock_steps`` counts them.

No ROS here: times are plain floats in seconds, so tests feed synthetic series.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class FeedbackSample:
    """One frame as the cloud saw it."""

    seq: int
    size_bytes: int
    send_s: float  # robot clock, when the edge handed the frame to the uplink
    recv_s: float  # cloud clock, when the frame arrived there
    arrival_s: float  # robot clock, when this feedback reached the controller
    server_s: float = 0.0  # cloud time spent on the frame before this feedback was sent

    @property
    def owd_s(self) -> float:
        """One-way delay plus the (unknown, constant) offset between the two clocks."""
        return self.recv_s - self.send_s

    @property
    def rtt_s(self) -> float:
        """Round trip on the robot's clock alone, less the cloud's time on the frame."""
        return self.arrival_s - self.send_s - self.server_s


class LinkEstimator:
    """Sliding-window estimates of queuing delay and delivery rate from feedback samples."""

    def __init__(
        self,
        rate_window_s: float = 2.0,
        base_window_s: float = 30.0,
        min_service_s: float = 0.004,
        min_extra_bytes: int = 1500,
        clock_step_s: float = 0.25,
        clock_step_samples: int = 3,
    ) -> None:
        if rate_window_s <= 0 or base_window_s < rate_window_s or min_service_s < 0:
            raise ValueError("need 0 < rate_window_s <= base_window_s and min_service_s >= 0")
        if clock_step_s <= 0 or clock_step_samples < 1:
            raise ValueError("need clock_step_s > 0 and clock_step_samples >= 1")
        self.rate_window_s = rate_window_s
        self.base_window_s = base_window_s
        self.min_service_s = min_service_s
        self.min_extra_bytes = min_extra_bytes
        self.clock_step_s = clock_step_s
        self.clock_step_samples = clock_step_samples
        self._samples: deque[FeedbackSample] = deque()  # sorted by recv_s
        # (seq, send time): a feedback repeated for one frame has both the same; a restarted edge
        # numbers its frames from 1 again, with new send times, and those are new frames.
        self._seen: set[tuple[int, float]] = set()
        self._base: deque[tuple[float, float, int]] = deque()  # (send_s, owd, size): monotone minimum
        # Consecutive samples whose one-way queuing exceeds the round trip's by clock_step_s.
        self._stepped: list[tuple[FeedbackSample, float]] = []
        self.clock_steps = 0
        self.count = 0
        self.last_arrival_s: float | None = None

    def add(self, s: FeedbackSample) -> bool:
        """Take one sample (a repeat of a frame's feedback is ignored); True if new."""
        key = (s.seq, s.send_s)
        if key in self._seen:
            return False
        self._seen.add(key)
        self.count += 1
        self.last_arrival_s = (
            s.arrival_s if self.last_arrival_s is None else max(self.last_arrival_s, s.arrival_s)
        )
        # Insert by cloud receive time (feedback of superseded frames may overtake others).
        if not self._samples or s.recv_s >= self._samples[-1].recv_s:
            self._samples.append(s)
        else:
            items = sorted([*self._samples, s], key=lambda x: x.recv_s)
            self._samples = deque(items)
        while self._base and self._base[-1][1] >= s.owd_s:
            self._base.pop()
        self._base.append((s.send_s, s.owd_s, s.size_bytes))
        self._prune(s.send_s)
        self._check_clock_step(s)
        return True

    def _floor(self, delay: Callable[[FeedbackSample], float]) -> float:
        """A baseline of ``delay`` over the window: its ``clock_step_samples``-th smallest, not
        the smallest. A frame sent before the robot's clock stepped back and answered after it
        (at 10 fps one always is in flight) has a round trip short by the step; as the minimum
        it would hide the step. With the k-th smallest, up to k - 1 such frames are ignored;
        one-way delays and round trips get the same statistic, so a queue that builds or
        drains moves both floors alike."""
        return heapq.nsmallest(self.clock_step_samples, map(delay, self._samples))[-1]

    def _check_clock_step(self, s: FeedbackSample) -> None:
        """Move the one-way minimum when the clocks stepped (see the module docstring)."""
        owd_floor = self._floor(lambda x: x.owd_s)
        excess = (s.owd_s - owd_floor) - (s.rtt_s - self._floor(lambda x: x.rtt_s))
        if excess <= self.clock_step_s:
            self._stepped.clear()
            return
        self._stepped.append((s, excess))
        if len(self._stepped) < self.clock_step_samples:
            return
        shift = min(e for _, e in self._stepped)
        kept = sorted((x for x, _ in self._stepped), key=lambda x: x.recv_s)
        for old in self._samples:
            self._seen.discard((old.seq, old.send_s))
        self._seen.update((x.seq, x.send_s) for x in kept)
        self._samples = deque(kept)
        # The one-way minimum moves by the step (the smallest excess: no frame's queuing then
        # reads below its round trip's).
        _, base, size = self._base[0]
        self._base = deque([(s.send_s, base + shift, size)])
        self._stepped.clear()
        self.clock_steps += 1

    def _prune(self, now_s: float) -> None:
        while self._base and self._base[0][0] < now_s - self.base_window_s and len(self._base) > 1:
            self._base.popleft()
        while self._samples and self._samples[0].send_s < now_s - self.base_window_s:
            old = self._samples.popleft()
            self._seen.discard((old.seq, old.send_s))

    def base_owd(self) -> float | None:
        """Smallest one-way delay (with the clock offset) of the last ``base_window_s``."""
        return self._base[0][1] if self._base else None

    def queuing_ms(self, s: FeedbackSample) -> float:
        """How much longer than the recent best this frame took to reach the cloud [ms]."""
        base = self.base_owd()
        return 0.0 if base is None else max(0.0, (s.owd_s - base) * 1e3)

    def recent(self, since_send_s: float) -> list[FeedbackSample]:
        """Samples of frames sent at or after ``since_send_s``, in send order."""
        return sorted((s for s in self._samples if s.send_s >= since_send_s), key=lambda s: s.send_s)

    def rate_kbps(self, now_s: float, min_samples: int = 3) -> float | None:
        """Delivery rate over the frames sent in the last ``rate_window_s``; None while fewer
        than ``min_samples`` frames kept the link measurably busy."""
        busy = list(self._busy(lambda s: s.send_s >= now_s - self.rate_window_s))
        busy_s = sum(service for _, service, _ in busy)
        if len(busy) < min_samples or busy_s <= 0:
            return None
        return sum(size for _, _, size in busy) * 8 / busy_s / 1e3

    def frame_rates_kbps(self, since_arrival_s: float) -> list[float]:
        """Per-frame delivery rates of the frames whose feedback arrived since then, in
        arrival order (what the link did for each frame on its own)."""
        busy = self._busy(lambda s: s.arrival_s >= since_arrival_s)
        return [size * 8 / service / 1e3 for _, service, size in sorted(busy, key=lambda b: b[0].arrival_s)]

    def _busy(self, keep) -> Iterator[tuple[FeedbackSample, float, int]]:
        """(sample, link time, bytes) of every kept sample that says something about the
        rate (see the module docstring)."""
        if not self._base:
            return
        _, base, base_size = self._base[0]
        previous: FeedbackSample | None = None
        for s in self._samples:
            if keep(s):
                idle_arrival = s.send_s + base
                if previous is not None and previous.recv_s >= idle_arrival:  # queued behind it
                    service, size = s.recv_s - previous.recv_s, s.size_bytes
                else:  # met an idle link: extra time for the extra bytes (if enough to time)
                    service, size = s.recv_s - idle_arrival, s.size_bytes - base_size
                    size = size if size >= self.min_extra_bytes else 0
                if service >= self.min_service_s and size > 0:
                    yield s, service, size
            previous = s

    def server_s(self, count: int = 10) -> float:
        """Median cloud time per frame over the last ``count`` frames (0 when none)."""
        recent = sorted(self._samples, key=lambda s: s.arrival_s)[-count:]
        times = sorted(s.server_s for s in recent)
        return times[len(times) // 2] if times else 0.0

    def sent_kbps(self, now_s: float) -> float:
        """Bytes that reached the cloud per second of the window (what we actually used)."""
        recent = [s for s in self._samples if s.send_s >= now_s - self.rate_window_s]
        return sum(s.size_bytes for s in recent) * 8 / self.rate_window_s / 1e3
