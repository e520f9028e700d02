"""The adaptation policy (AWStream-style): which Pareto point the edge should run, and when.

The ladder is the profile's (by frame size with ``frame_budget_ms``) without the points whose
masks score under ``min_accuracy_ratio`` x the top point's; its first point is "the safest".

States:

* ``startup`` — begin at a modest point (``start_kbps``, e.g. 150 kbit/s, which almost any
  cellular uplink carries) and climb fast: once a few frames of the current point are
  back without queuing (queuing short of congestion is waited out, still in startup),
  jump to the best point the measured delivery rate carries (with headroom), or that is
  within ``climb_factor`` x the current kbps when the link is too idle to measure; never further than that factor in one climb, and (here and
  in every climb or step down) never to a point whose frame takes the measured rate more than
  ``max_frame_ms`` to carry: each pause of a cellular link leaves the frames in flight to
  drain after it, and big frames turn a 1 s pause into 1.5 s of latency.
* ``degrade`` — congestion: frames queue (median queuing delay over ``degrade_delay_ms``,
  or feedback overdue by as much) or the measured rate cannot carry the current point. Step
  down to the best point that fits the rate, with frames that cross it within
  ``max_frame_ms`` (at least one step, and to at most half the kbps when the queue is
  deeper than twice ``degrade_delay_ms``); if frames of the new point still queue after
  ``settle_s``, step again. Leave for ``steady`` once the queue has drained.
* ``steady`` — hold. After ``hold_s`` without trouble (``climb_s`` when the last climb went
  well, ``idle_climb_s`` if moreover the link is too idle to measure), and unless the rate
  estimate says the next point does not fit, ``probe``. A rate too small to measure is
  taken for an idle link only if every frame of the last ``hold_s`` crossed without
  queuing (within half a frame interval of the current point): a link that trickles
  between bursts also crosses too little to measure.
* ``probe`` — run the next point up for ``probe_s``; the first sign of queuing (two frames
  over ``probe_delay_ms``, or one over ``degrade_delay_ms``) or a measured rate below the
  point's cost (the edge's window hides that queue by sending fewer frames) reverts it and doubles the
  wait before that point, or any above it, is tried again. Congestion within
  ``probe_memory_s`` of climbing to a point counts as a failed probe of it too (a link
  that swings every few seconds would otherwise be chased up and down).

Hysteresis: a point is left downwards only when it does not fit the rate at all, but
entered upwards only when it fits with ``headroom`` to spare; queuing must exceed
``degrade_delay_ms`` to step down but stay under ``probe_delay_ms`` to step up; every
change waits ``min_interval_s`` after the previous one and probes of a point that failed
back off exponentially. So an oscillating link does not make the configuration flap.

Samples count for a point only if their frame was sent after the edge confirmed the
point (robot clock), so the backlog of the previous point is never blamed on the new one.
When feedback stops for ``feedback_timeout_s`` (or none came in the first
``first_feedback_s``) the safest point is chosen (and said so); when it resumes, startup
begins again, and once a frame crosses without queuing the point held before the outage
(or the start point, when none had held yet) is probed first (an outage is not a smaller
link). A pause of a second or two (overdue feedback while the frames that arrived did not queue, at a point the
measured rate carries) is waited out for ``pause_hold_s`` instead: see ``_paused``. A stall
that outlasts it is stepped down from, and once the backlog drained the point held before
is probed again instead of climbed back to step by step. A point the edge refuses is set aside for
``refused_backoff_s``; the policy keeps believing what the edge really runs.

No ROS here: the node feeds samples and calls :meth:`tick`; tests do the same with
synthetic series.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field
from enum import StrEnum

from cloudseg_ros.controller.estimator import FeedbackSample, LinkEstimator
from cloudseg_ros.controller.profile import Profile, ProfilePoint, floor_ladder, frame_ladder
from cloudseg_ros.controller.settings import Settings

STALL = "held before the stall"


class State(StrEnum):
    STARTUP = "startup"
    DEGRADE = "degrade"
    STEADY = "steady"
    PROBE = "probe"


@dataclass(frozen=True)
class Change:
    """A decision to run another point."""

    index: int
    previous: int  # -1 before the first configuration was applied
    state: State  # state the policy is in once the change is applied
    reason: str
    at_s: float


@dataclass
class Status:
    """What the policy believes right now (published for plotting)."""

    state: State
    index: int
    rate_kbps: float | None
    sent_kbps: float
    queuing_ms: float | None
    changes: int
    refusals: int
    reason: str


@dataclass
class _Probe:
    backoff_s: dict[int, float] = field(default_factory=dict)  # point -> wait before the next try
    not_before_s: dict[int, float] = field(default_factory=dict)
    climbed_s: dict[int, float] = field(default_factory=dict)  # point -> when we last climbed to it


class BitrateController:
    """Feed it feedback samples and call :meth:`tick` regularly; apply what it returns."""

    def __init__(self, profile: Profile, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.settings.validate()
        budget = self.settings.frame_budget_ms
        self.profile = floor_ladder(
            frame_ladder(profile, budget) if budget > 0 else profile, self.settings.min_accuracy_ratio
        )
        if not -1 <= self.settings.start_index < len(self.profile):
            raise ValueError(
                f"start_index {self.settings.start_index} outside the ladder (0..{len(self.profile) - 1})"
            )
        s = self.settings
        self.estimator = LinkEstimator(s.rate_window_s, s.base_window_s)
        self.state = State.STARTUP
        self.index = -1  # what the edge runs (confirmed); -1 = not set by us yet
        self.since_s = 0.0  # robot time the edge confirmed ``index``
        self.pending: Change | None = None
        self.changes = 0
        self.refusals = 0
        self.reason = "waiting for the edge"
        self.silent = False
        self._last_change_s = -1e9
        self._applied_s = -1e9  # when the newest change the edge confirmed was asked of it
        self._started_s: float | None = None
        self._probe = _Probe()
        self._refused_until: dict[int, float] = {}
        self._probe_from: int | None = None
        self._now_s = 0.0
        self._last_climb_ok = False
        self._good_index = -1  # last point held in steady state for hold_s without trouble
        self._resume_to: int | None = None
        self._resume_why = ""
        self._pause_since_s: float | None = None
        self._drop_kbps: float | None = None  # what the frames after a "pause" showed, when less
        self._rate_seen: tuple[float, float] | None = None  # last measured rate and when
        self._resume_since_s = 0.0

    # ------------------------------------------------------------------ inputs
    def feedback(self, sample: FeedbackSample) -> None:
        self.estimator.add(sample)

    def confirmed(self, change: Change, now_s: float) -> Change | None:
        """The edge accepted ``change``: it runs from now on. An answer that comes after the
        request was given up still counts (the edge does run it, and the point is no longer
        set aside as refused), also while a newer request waits for its answer (the edge
        answers in order: that one decides next); returns None only for an answer older
        than one already applied."""
        if change is self.pending:
            self.pending = None
        elif change.at_s < self._applied_s:
            return None
        else:
            self._refused_until.pop(change.index, None)
        self._applied_s = change.at_s
        if change.index > change.previous >= 0:
            self._probe.climbed_s[change.index] = now_s
        self.index, self.state, self.since_s = change.index, change.state, now_s
        self._last_change_s = now_s
        self._last_climb_ok = False  # set again when this point proves itself
        self.changes += 1
        self.reason = change.reason
        return change

    def refused(self, change: Change, reason: str, now_s: float) -> Change | None:
        """The edge refused ``change`` (or did not answer): it still runs ``index``."""
        if change is not self.pending:
            return None
        self.pending = None
        self.refusals += 1
        self._refused_until[change.index] = now_s + self.settings.refused_backoff_s
        self.reason = f"edge refused {self.profile[change.index].name}: {reason}"
        if self.state == State.PROBE or change.state == State.PROBE:
            self.state = State.STEADY
        self._last_change_s = now_s  # do not hammer the edge
        return change

    # ------------------------------------------------------------------ decisions
    def tick(self, now_s: float) -> Change | None:
        """Decide; returns a change to apply (then call confirmed/refused), or None."""
        s = self.settings
        self._now_s = now_s
        if self._started_s is None:
            self._started_s = now_s
        if self.pending is not None:
            if now_s - self.pending.at_s > s.request_timeout_s:
                self.refused(self.pending, f"no answer within {s.request_timeout_s:g} s", now_s)
            return None
        if self.index < 0:
            return self._fall_back(s.first_index(self.profile), State.STARTUP, "initial configuration", now_s)
        last = self.estimator.last_arrival_s
        if last is None:
            # Nothing back yet: the cloud may still be loading and warming up its models, which
            # takes seconds; that is no news about the link, so the start point is kept for
            # first_feedback_s (the edge's window bounds what waits meanwhile).
            if now_s - self._started_s > s.first_feedback_s and self.index != 0:
                return self._fall_back(0, State.STARTUP, "no feedback yet: safest configuration", now_s)
            self.reason = "waiting for the first feedback"
            return None
        quiet_since = last
        if now_s - quiet_since > s.feedback_timeout_s:
            return self._on_silence(now_s, now_s - quiet_since)
        if self.silent:
            self.silent = False
            self.state = State.STARTUP
            self.reason = "feedback resumed: startup"
            self._resume_since_s = now_s  # the wait for the stuck frames to drain starts now
        if now_s - self._last_change_s < s.min_interval_s:
            return None
        current = self.profile[self.index]
        # Feedback that is overdue is queuing we cannot see yet (the frames are still on the way).
        # Overdue means later than the camera (or the cap) and the cloud's own pace explain: a
        # slow cloud spaces feedback out too, and that is not the link's doing.
        expected_gap_s = max(
            self._frame_interval_s(current), self.estimator.server_s(), s.frame_budget_ms / 1e3
        )
        late_ms = (now_s - quiet_since - expected_gap_s) * 1e3
        samples = self._past_restart(self.estimator.recent(self.since_s))
        if len(samples) < s.min_samples and late_ms <= s.degrade_delay_ms:
            return self._early_resume(now_s, samples, late_ms)
        delays = [self._queued_ms(x) for x in samples]
        judged = [d for x, d in zip(samples, delays, strict=True) if x.arrival_s >= now_s - s.delay_window_s]
        if len(judged) < s.min_samples:
            judged = delays[-s.min_samples :]
        queuing = statistics.median(judged) if judged else None
        seen = queuing  # what the frames that did arrive say, before overdue feedback is added
        if late_ms > s.degrade_delay_ms:
            queuing = max(queuing or 0.0, late_ms)
        rate = self.estimator.rate_kbps(now_s, s.min_samples)
        if rate is not None:
            self._rate_seen = (rate, now_s)
        # The rate alone is not enough: a point that does not fit must also have started to
        # queue (a noisy estimate on an idle link must not push us down).
        over_rate = (
            rate is not None and current.kbps > rate and queuing is not None and queuing > s.probe_delay_ms
        )
        congested = (queuing is not None and queuing > s.degrade_delay_ms) or over_rate
        if not congested:
            self._pause_since_s, self._drop_kbps = None, None
        elif self._paused(now_s, current.kbps, late_ms, seen, rate):
            return None
        handler = {
            State.STARTUP: self._startup,
            State.DEGRADE: self._degrade,
            State.STEADY: self._steady,
            State.PROBE: self._probing,
        }[self.state]
        return handler(now_s, delays, queuing, rate, congested)

    def _paused(
        self, now_s: float, kbps: float, late_ms: float, seen: float | None, rate: float | None
    ) -> bool:
        """Is this congestion a pause of the link, to be waited out rather than stepped down from?

        A pause (cellular uplinks stop for a second or two several times a minute) shows as
        feedback that is overdue while the frames that did arrive did not queue, at a point
        the last measured rate carries with headroom (in startup, on a link too idle to
        measure, too). A smaller point would not help: the frames are in flight already
        and the edge's window sends no more until they arrive. So hold for up to
        ``pause_hold_s`` and judge the point afterwards only on frames sent after the
        pause. It was a drop, not a pause, if frames arriving after it was seen took the
        link longer than this point allows (the first one excepted: it waited out the
        pause); then, or once ``pause_hold_s`` is over, congestion is handled as usual."""
        s = self.settings
        if self.state in (State.DEGRADE, State.PROBE) or self.index == 0 or self._resume_to is not None:
            # Nothing smaller to protect, a probe (any queuing fails it), or an outage's way
            # back under way.
            return False
        if self._pause_since_s is None:
            fits = self._carries(kbps, rate, now_s)
            only_late = late_ms > s.degrade_delay_ms and (seen is None or seen <= s.degrade_delay_ms)
            if not (fits and only_late):
                return False
            self._pause_since_s = now_s
        if now_s - self._pause_since_s >= s.pause_hold_s:
            return False
        after = self.estimator.frame_rates_kbps(self._pause_since_s)[1:]
        if after and statistics.median(after) < kbps:
            self._drop_kbps = statistics.median(after)  # the link came back smaller: step down to it
            return False
        self.since_s = now_s  # the backlog of the pause is not this point's fault
        self.reason = (
            f"link paused ({late_ms:.0f} ms without feedback): holding {self.profile[self.index].name}"
        )
        return True

    def _carries(self, kbps: float, rate: float | None, now_s: float) -> bool:
        """Does the link carry ``kbps`` with headroom, by the rate measured now or, when
        nothing arrived lately to measure it (a pause), the last one measured?"""
        s = self.settings
        if rate is None and self._rate_seen is not None and now_s - self._rate_seen[1] < s.base_window_s:
            rate = self._rate_seen[0]
        if rate is not None:
            return kbps <= rate * s.headroom
        # Unmeasured: only the safest point in startup (an outage's backlog draining) is
        # presumed carried. Above it, frames that queue without a measurable rate are frames
        # the link is too small for (each crosses alone, behind the edge's window).
        return self.state == State.STARTUP and self.index == 0

    def _on_silence(self, now_s: float, quiet_s: float) -> Change | None:
        if not self.silent:
            self.silent = True
            self.reason = f"no feedback for {quiet_s:.1f} s"
            # An outage is not a smaller link: once feedback flows again without queuing, the
            # point held before the trouble is tried first (as a probe), not climbed to step by step.
            # With no such point yet (an outage early in a session), the start point is, as
            # at the start: the climb from the bottom costs seconds of poor masks.
            known = [i for i in (self._good_index, self._resume_to) if i is not None and i >= 0]
            goal = max(known) if known else self.settings.first_index(self.profile)
            self._resume_to = goal if goal > 0 else None
            self._resume_since_s, self._resume_why = now_s, "held before the outage"
        if self.index != 0:
            return self._fall_back(
                0, State.DEGRADE, f"no feedback for {quiet_s:.1f} s: safest configuration", now_s
            )
        self.state = State.DEGRADE
        return None

    def _fall_back(self, index: int, state: State, reason: str, now_s: float) -> Change | None:
        """Go to ``index`` (the start or the safest point) without hammering the edge: once per
        ``min_interval_s`` at most, and to the nearest point it has not refused lately (a point
        the edge refuses was otherwise asked for again on every tick)."""
        if now_s - self._last_change_s < self.settings.min_interval_s:
            return None
        target: int | None = self._usable_below(index)  # index itself when the edge has not refused it
        if not self._usable(target):
            target = self._usable_above(index)
        if target is None or target == self.index:
            self.state = state
            return None
        return self._propose(target, state, reason, now_s)

    def _resume(self, now_s: float, queuing: float | None, rate: float | None) -> Change | None:
        """After an outage or a stall: back to the point held before it, as a probe (see
        _on_silence and _step_down), once the frames stuck in it have drained; given up after
        ``hold_s`` of waiting, or if that point is backing off from a failed probe."""
        if self._resume_to is None:
            return None
        if now_s - self._resume_since_s > self.settings.hold_s + self.settings.feedback_timeout_s:
            self._resume_to = None
            return None
        if queuing is not None and queuing > self.settings.probe_delay_ms:
            return None  # still draining
        if self._resume_why == STALL and not self._calm(now_s):
            return None  # a link that still makes frames queue now and then has not recovered
        if self._resume_why != STALL and not self._quick_since(self._resume_since_s):
            return None  # back at a trickle: even the safest point's small frames are slow
        goal, self._resume_to = self._resume_to, None
        if rate is not None and self._resume_why != STALL:
            # After an outage the link may come back smaller. After a stall the rate was
            # vetted when it began; what the small frames since then measure is too noisy.
            goal = min(goal, self.profile.fitting(rate * self.settings.headroom))
        goal = self._usable_below(goal)
        if goal <= self.index or now_s < self._probe.not_before_s.get(goal, 0.0):
            return None
        self._probe_from = self.index
        return self._propose(
            goal, State.PROBE, f"link back: trying {self.profile[goal].name}, {self._resume_why}", now_s
        )

    def _early_resume(self, now_s: float, samples: list[FeedbackSample], late_ms: float) -> Change | None:
        """After an outage, the way back does not wait for min_samples frames of the safest
        point: once its first frame crossed without queuing (the backlog is gone), the point
        held before is probed. Every mask of the safest point is a poor one, and a pooled
        accuracy suffers from a few of them more than their number says."""
        s = self.settings
        if self._resume_to is None or self._resume_why == STALL or not samples:
            return None
        # Raw queuing, without the frame-size ladder's allowance: the question is whether the
        # link is back, and a link back at a trickle makes even the safest point's frames slow.
        worst = max(self.estimator.queuing_ms(x) for x in samples)
        if worst > s.probe_delay_ms or late_ms > s.probe_delay_ms:
            return None
        return self._resume(now_s, worst, self.estimator.rate_kbps(now_s, s.min_samples))

    def _startup(self, now_s, delays, queuing, rate, congested) -> Change | None:
        if congested:
            if self.index > 0:
                self._resume_to = None  # the link came back worse than it was
            # At the safest point this is the backlog of the outage draining, not news about
            # the link: the point held before stays the goal once the queue is gone.
            return self._step_down(now_s, queuing, rate, "startup hit congestion")
        if (back := self._resume(now_s, queuing, rate)) is not None:
            return back
        if queuing is not None and queuing > self.settings.probe_delay_ms:
            # Some queuing, not congestion: wait here for it to clear, still in startup. Going
            # to steady would hold the (low) point for hold_s, and a first stream's start-up
            # spike would cost seconds of poor masks.
            self.reason = f"startup: queuing {queuing:.0f} ms, waiting"
            return None
        top = self._usable_below(len(self.profile) - 1)
        if rate is None:  # the link crossed every frame at once: far from full
            if not self._calm(now_s, self.settings.degrade_delay_ms):
                # ... or it trickles: each frame crosses alone, slowly (see _calm; here a
                # frame that took congestion's delay longer than the best, so that a
                # first stream's queuing spike is still waited out). Startup follows every
                # outage, and on the UMTS trace its idle climbs sent 6-10 kB key frames into
                # a trickle: 6-8 s each.
                self.reason = "startup: too little crosses to measure, and not quickly: waiting"
                return None
            if self.index < top:
                nxt = self._climb_target(None)
                if nxt is not None:
                    return self._propose(
                        nxt,
                        State.STARTUP,
                        f"startup: link idle, up to {self.profile[nxt].kbps:.0f} kbps",
                        now_s,
                    )
            self.state, self.reason = State.STEADY, "startup done: top of the profile"
            return None
        target = self._quick_below(self._usable_below(self.profile.fitting(self._climb_budget(rate))), rate)
        if target > self.index:
            return self._propose(
                target, State.STARTUP, f"startup: {rate:.0f} kbps measured fits "
                f"{self.profile[target].kbps:.0f} kbps", now_s)  # fmt: skip
        self.state, self.reason = State.STEADY, f"startup done at {rate:.0f} kbps measured"
        return None

    def _degrade(self, now_s, delays, queuing, rate, congested) -> Change | None:
        if congested and now_s - self._last_change_s >= self.settings.settle_s:
            return self._step_down(now_s, queuing, rate, "still congested")
        if not congested and (queuing is None or queuing < self.settings.probe_delay_ms):
            if (back := self._resume(now_s, queuing, rate)) is not None:
                return back
            self.state, self.reason = State.STEADY, "queue drained"
        return None

    def _steady(self, now_s, delays, queuing, rate, congested) -> Change | None:
        s = self.settings
        if congested:
            return self._step_down(now_s, queuing, rate, "congestion")
        if (back := self._resume(now_s, queuing, rate)) is not None:
            return back
        if now_s - self.since_s >= s.hold_s:
            # Only a point held this long without trouble is worth returning to after an
            # outage: one that just passed a 2 s probe may be what the link could not carry.
            self._good_index = self.index
        if now_s - self.since_s > s.probe_memory_s:
            self._probe.backoff_s.pop(self.index, None)  # this point has proved itself
        wait = (s.idle_climb_s if rate is None else s.climb_s) if self._last_climb_ok else s.hold_s
        if now_s - self._last_change_s < wait:
            return None
        # After trouble the link is climbed one point at a time, measured or not: frames too
        # alike to measure the rate with are no sign of an idle link there (on a weak link a
        # failed probe costs seconds of latency: its key frame and the window queue). Once a
        # climb went well, climbs go as far as the rate (or climb_factor) allows.
        nxt = self._climb_target(rate, one_step=not self._last_climb_ok)
        if nxt is None:
            return None
        if queuing is not None and queuing > s.probe_delay_ms:
            return None
        want = self.profile[nxt].kbps
        if rate is not None and want > rate * s.headroom:
            return None
        # Too little crosses to measure, and not quickly either: no idle link. A link that
        # takes half the time between two frames for each frame is busy, not idle, even when
        # its rate cannot be measured (the fastest frame of the last hold_s may be one of a
        # bigger point, sent before the link narrowed).
        busy_ms = 500 * self._frame_interval_s(self.profile[self.index])
        if rate is None and not self._calm(now_s, min(s.probe_delay_ms, busy_ms)):
            return None
        self._probe_from = self.index
        why = "link idle" if rate is None else f"{rate:.0f} kbps measured"
        return self._propose(nxt, State.PROBE, f"probe: {why}, trying {want:.0f} kbps", now_s)

    def _probing(self, now_s, delays, queuing, rate, congested) -> Change | None:
        s = self.settings
        over = [d > s.probe_delay_ms for d in delays]
        queued = any(a and b for a, b in itertools.pairwise(over)) or any(
            d > s.degrade_delay_ms for d in delays
        )
        # A point whose frame takes longer than its budget on the link measured meanwhile does
        # not fit, even while the edge's window keeps its queue short by sending fewer frames.
        too_big = rate is not None and self.profile[self.index].kbps > rate
        if queued or congested or too_big:
            back = self._probe_from if self._probe_from is not None else max(0, self.index - 1)
            if rate is not None:
                # A probe from far below (the way back after an outage) measured the link:
                # fall back to what it carries, not to the bottom of the ladder.
                fits = self._usable_below(self.profile.fitting(rate * s.headroom))
                back = max(back, min(self.index - 1, fits))
            wait = self._back_off(self.index, now_s)
            worst = max(delays, default=queuing or 0.0)
            why = f"{rate:.0f} kbps measured" if too_big and not queued else f"queuing {worst:.0f} ms"
            return self._propose(
                back, State.STEADY, f"probe failed ({why}): back off, retry in {wait:.0f} s", now_s
            )
        if now_s - self.since_s >= s.probe_s:
            # The backoff of this point is forgotten only once it has held for probe_memory_s
            # (see _steady): a link that swings every few seconds passes probes in its good phases.
            self.state, self.reason = State.STEADY, "probe succeeded"
            self._last_climb_ok = True
        return None

    # ------------------------------------------------------------------ helpers
    def _calm(self, now_s: float, limit_ms: float | None = None) -> bool:
        """Did every frame sent in the last ``hold_s`` (and back by now) cross without queuing?

        A rate too small to measure means either an idle link (every frame crossed at once)
        or one that trickles (each frame crosses alone, slowly: the UMTS trace carries a
        packet a second for seconds at a time). Only the first may be climbed on, and the
        median queuing of the last second does not tell them apart: the one frame a
        trickling link let through in a burst looks quick."""
        s = self.settings
        recent = self.estimator.recent(now_s - s.hold_s)
        # Raw queuing, without the frame-size ladder's allowance: idle means quick.
        limit = s.probe_delay_ms if limit_ms is None else limit_ms
        return all(self.estimator.queuing_ms(x) <= limit for x in recent)

    def _quick_since(self, since_s: float) -> bool:
        """Did the newest frame sent since ``since_s`` come back without queuing (raw, with
        no allowance for the ladder's frame time)? After an outage it says whether the link
        is back: one that comes back at a trickle (the shaper's 8 kbit/s floor) still
        carries the safest point's small frames, but slowly, and the point held before would
        take seconds per key frame. (The newest: older ones may have queued behind the
        frames the outage held up.)"""
        recent = self.estimator.recent(since_s)
        return bool(recent) and self.estimator.queuing_ms(recent[-1]) <= self.settings.probe_delay_ms

    def _queued_ms(self, sample: FeedbackSample) -> float:
        """How much longer than the recent best ``sample`` took, less what the ladder allows a
        frame: on the frame-size ladder a point's frame may take ``frame_budget_ms`` to cross
        (and a second one waits behind it in the edge's window), so only what comes on top
        of that is queuing the point did not pay for."""
        return max(0.0, self.estimator.queuing_ms(sample) - self.settings.frame_budget_ms)

    @staticmethod
    def _past_restart(samples: list[FeedbackSample]) -> list[FeedbackSample]:
        """The frames of the current point sent after its first one came back.

        Every change restarts the edge's stream, and its first frame is a key frame several
        times a predicted frame's size; the frames sent while it crossed waited behind it.
        That is what the change cost once, not what the point costs the link: judged on it,
        a probe fails on the key frame alone (netem, ATT-LTE-driving-2016: every probe of
        x1-h264-2000k failed with 250-400 ms of queuing at 1.2-1.5 Mbit/s measured; its key
        frames were 60-68 kB, 2.7-3.3x its other frames). A stall meanwhile still shows as
        overdue feedback."""
        if not samples:
            return samples
        first = min(samples, key=lambda x: x.send_s)
        return [x for x in samples if x.send_s >= first.arrival_s]

    def _frame_interval_s(self, point: ProfilePoint) -> float:
        """Expected time between two feedback messages at this point (camera rate or cap)."""
        fps = float(self.profile.meta.get("camera", {}).get("fps", 10.0))
        cap = float(point.knobs.get("fps_cap", 0.0))
        return 1.0 / (min(fps, cap) if cap > 0 else fps)

    def _back_off(self, index: int, now_s: float) -> float:
        """Double the wait before ``index`` is probed again; returns it."""
        s = self.settings
        wait = min(s.probe_backoff_max_s, 2 * self._probe.backoff_s.get(index, s.hold_s / 2))
        self._probe.backoff_s[index] = wait
        self._probe.not_before_s[index] = now_s + wait
        return wait

    def _step_down(self, now_s: float, queuing: float | None, rate: float | None, why: str) -> Change | None:
        if self.index == 0:
            self.state, self.reason = State.DEGRADE, f"{why} at the safest configuration"
            return None
        current = self.profile[self.index].kbps
        if self._drop_kbps is not None:
            # What the frames after a "pause" took: the link came back smaller (before the
            # check below: a drop is not a stall to climb back from).
            rate = min(rate, self._drop_kbps) if rate is not None else self._drop_kbps
        fits = self._carries(current, rate, now_s)
        if self.state != State.DEGRADE and self._resume_to is None and fits:
            # Queuing that our own bytes do not explain (the link carries this point with
            # headroom, or startup's small points met a link too idle to measure), longer than
            # a pause is waited out (_paused): step down so the backlog drains, then try this
            # point again.
            self._resume_to, self._resume_since_s, self._resume_why = self.index, now_s, STALL
        elif now_s - self._probe.climbed_s.get(self.index, -1e9) < self.settings.probe_memory_s:
            self._back_off(self.index, now_s)
        target = self.index - 1
        if rate is not None:
            target = min(target, self.profile.fitting(rate * self.settings.headroom))
            target = self._quick_below(target, rate, floor=0)
        if queuing is not None and queuing > 2 * self.settings.degrade_delay_ms:
            # A deep queue: halve the rate at least (multiplicative decrease), one rung at a
            # time would add a settle_s of queuing per rung.
            target = min(target, self.profile.fitting(current / 2))
        target = self._usable_below(target)
        bits = []
        if queuing is not None:
            bits.append(f"queuing {queuing:.0f} ms")
        if rate is not None:
            bits.append(f"{rate:.0f} kbps measured < {self.profile[self.index].kbps:.0f} kbps"
                        if self.profile[self.index].kbps > rate else f"{rate:.0f} kbps measured")  # fmt: skip
        return self._propose(target, State.DEGRADE, f"{why} ({', '.join(bits)})", now_s)

    def _climb_budget(self, rate: float | None) -> float:
        """The most kbps a climb from here may go to: what the measured rate carries with
        headroom, and never more than ``climb_factor`` x the current kbps (slow-start-like).
        The cap matters twice: a link too idle to measure (every frame crossed at once) is
        climbed in a few big steps rather than one rung a second, and a rate measured on
        frames much smaller than the link's burst is inflated (a token bucket lets a small
        frame through at line rate), so it may not vouch for a point many times bigger."""
        cap = self.profile[self.index].kbps * self.settings.climb_factor
        return cap if rate is None else min(cap, rate * self.settings.headroom)

    def _climb_target(self, rate: float | None, one_step: bool = False) -> int | None:
        """Where a climb from here goes: the next usable point up, or further, within
        :meth:`_climb_budget`. Points whose probe backoff has not expired are not jumped to;
        then the next point is the candidate (and it may be backing off too)."""
        nxt = self._usable_above(self.index)
        if nxt is None:
            return None
        far = nxt
        if not one_step:
            far = max(nxt, self._usable_below(self.profile.fitting(self._climb_budget(rate))))
            while far > nxt and self._backing_off(far):
                far = self._usable_below(far - 1)
        if self._backing_off(far):
            return None
        far = self._quick_below(far, rate)
        return far if far > self.index else None

    def _quick_below(self, index: int, rate: float | None, floor: int | None = None) -> int:
        """The biggest usable point at or below ``index`` (and above ``floor``, by default the
        current point) whose frame crosses the measured link within ``max_frame_ms``;
        ``floor`` if none.
        The rate alone would allow few big frames: every pause of a cellular link leaves the
        frames in flight to drain after it, and big ones add hundreds of ms to each (a
        1.8 Mbit/s point at 5 fps sends 45 kB frames: 240 ms each on a 1.5 Mbit/s link)."""
        floor = self.index if floor is None else floor
        limit = self.settings.max_frame_ms
        if rate is None or limit <= 0 or self.settings.frame_budget_ms > 0:
            return index  # (the frame-size ladder's costs say how long a frame takes already)
        while index > floor:
            point = self.profile[index]
            if point.kbps * self._frame_interval_s(point) / rate * 1e3 <= limit:
                return index
            index = self._usable_below(index - 1)
        return floor

    def _backing_off(self, index: int) -> bool:
        """Is ``index``, or a point at or below it above the current one, still waiting out a
        failed probe? A link that did not carry a point does not carry a bigger one either
        (on a weak link every probe costs a stream restart whose key frame queues)."""
        return any(
            self._now_s < self._probe.not_before_s.get(i, 0.0) for i in range(self.index + 1, index + 1)
        )

    def _usable(self, i: int) -> bool:
        return self._refused_until.get(i, -1e9) <= self._now_s

    def _usable_below(self, i: int) -> int:
        while i > 0 and not self._usable(i):
            i -= 1
        return i

    def _usable_above(self, i: int) -> int | None:
        for j in range(i + 1, len(self.profile)):
            if self._usable(j):
                return j
        return None

    def _propose(self, index: int, state: State, reason: str, now_s: float) -> Change | None:
        if index == self.index:
            self.state = state
            return None
        self.pending = Change(index, self.index, state, reason, now_s)
        return self.pending

    def status(self, now_s: float) -> Status:
        last = self.estimator.recent(now_s - self.settings.delay_window_s)
        queuing = statistics.median([self._queued_ms(x) for x in last]) if last else None
        return Status(
            self.state,
            self.index,
            self.estimator.rate_kbps(now_s, self.settings.min_samples),
            self.estimator.sent_kbps(now_s),
            queuing,
            self.changes,
            self.refusals,
            self.reason,
        )
