"""Controller logic on synthetic feedback series (no ROS, no network).

A small discrete-time model of the robot's uplink produces the feedback the real cloud
would send: a camera at 10 fps, the edge's in-flight window (2 frames), a FIFO link whose
rate follows a given function of time, a fixed propagation delay, a cloud that answers
after a fixed service time, and an unknown offset between the robot's and the cloud's
clocks. The controller sees only what the node would give it (feedback samples and the
edge's answers), and its decisions feed back into the frame sizes.

Verifies: stepping down when the link shrinks and up when it grows; latency bounded
after a drop; no flapping on an oscillating link (at most one change per 2 s); the
result does not depend on the clock offset; the safest point after feedback stops
(said so) and startup again when it resumes; a refused change leaves the state
consistent and the refused point aside; the estimator's rate and queuing delay on
known series; profile files that are missing, empty or inconsistent are refused with
the file's name. Does not verify ROS plumbing (test_netem.py does, over a real link).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cloudseg_ros.controller.estimator import FeedbackSample, LinkEstimator
from cloudseg_ros.controller.policy import BitrateController, Change, State
from cloudseg_ros.controller.profile import (
    Profile,
    ProfilePoint,
    floor_ladder,
    frame_ladder,
    load_profile,
    pareto,
    save_profile,
)
from cloudseg_ros.controller.replay import drain
from cloudseg_ros.controller.settings import Settings as PolicySettings
from cloudseg_ros.errors import ConfigError

KBPS = (60, 150, 300, 600, 1200, 2400)


def Settings(**values: float) -> PolicySettings:
    """The policy's settings without the ladder floor (``min_accuracy_ratio``): these tests
    exercise the control logic on a synthetic ladder whose every rung they use; the floor's
    own tests below set it."""
    return PolicySettings(**{"min_accuracy_ratio": 0.0, **values})


def make_profile() -> Profile:
    points = [
        ProfilePoint(
            f"p{k}", {"downscale": 4, "codec": "h264", "bitrate_kbps": k, "fps_cap": 0.0}, k, 0.3 + 0.05 * i
        )
        for i, k in enumerate(KBPS)
    ]
    return Profile(points)


LADDER = frame_ladder(make_profile(), Settings().frame_budget_ms)  # what the controller climbs by default


@dataclass
class Run:
    """What a simulation produced."""

    latency: list[tuple[float, float]] = field(default_factory=list)  # (send time, latency s)
    index: list[tuple[float, int]] = field(default_factory=list)
    changes: list = field(default_factory=list)
    controller: BitrateController | None = None

    def index_at(self, t: float) -> int:
        current = -1
        for when, i in self.index:
            if when <= t:
                current = i
        return current

    def latencies(self, t0: float, t1: float) -> list[float]:
        return [lat for when, lat in self.latency if t0 <= when < t1]


def simulate(
    rate_kbps: Callable[[float], float],
    duration_s: float,
    offset_s: float = 1234.5,
    prop_s: float = 0.02,
    server_s: float = 0.05,
    fps: float = 10.0,
    max_in_flight: int = 2,
    feedback_until_s: float = math.inf,
    feedback_from_s: float = 0.0,
    refuse: Callable[[int], str | None] = lambda i: None,
    settings: Settings | None = None,
    jitter_s: float = 0.0,
    key_factor: float = 1.0,
    cloud_step: tuple[float, float] = (math.inf, 0.0),
) -> Run:
    """Millisecond-step model of camera, edge credit, FIFO link, cloud and controller."""
    profile = make_profile()
    ctl = BitrateController(profile, settings or Settings())
    run = Run(controller=ctl)
    link: deque[list] = deque()  # [seq, remaining bits, size bytes, send time]
    acks: list[tuple[float, FeedbackSample]] = []  # (robot arrival time, sample)
    in_flight: set[int] = set()
    seq, index, dt, key_next = 0, 0, 0.0007, False  # dt not a round number: no exact ties at thresholds
    next_frame, next_tick = 0.0, 0.0
    pending_apply: tuple[float, Change] | None = None
    steps = int(duration_s / dt)
    for step in range(steps):
        t = step * dt
        if t >= next_frame:
            next_frame += 1 / fps
            if len(in_flight) < max_in_flight:
                seq += 1
                point = profile[profile.index_of(ctl.profile[index].name)]  # the ladder's point, as measured
                size = max(200, int(point.kbps * 1000 / 8 / fps * (0.8 + 0.4 * ((seq * 7919) % 11) / 10)))
                if key_next:  # the first frame after a change restarts the stream: a key frame
                    size, key_next = int(size * key_factor), False
                link.append([seq, size * 8, size, t])
                in_flight.add(seq)
        for head in drain(link, rate_kbps(t) * 1000 * dt):
            recv = t + prop_s + jitter_s * (((head[0] * 7919) % 101) / 100) ** 3  # processing delays
            arrival = recv + server_s + prop_s
            clock = offset_s + (cloud_step[1] if t >= cloud_step[0] else 0.0)  # (when, how far) NTP steps it
            sample = FeedbackSample(head[0], head[2], head[3], recv + clock, arrival)
            acks.append((arrival, sample))
            run.latency.append((head[3], arrival - head[3]))
        for arrival, sample in [a for a in acks if a[0] <= t]:
            acks.remove((arrival, sample))
            in_flight.discard(sample.seq)
            if feedback_from_s <= t < feedback_until_s:
                ctl.feedback(sample)
        if pending_apply and t >= pending_apply[0]:
            change = pending_apply[1]
            reason = refuse(change.index)
            if reason:
                ctl.refused(change, reason, t)
            else:
                index, key_next = change.index, True
                ctl.confirmed(change, t)
                run.index.append((t, index))
            pending_apply = None
        if t >= next_tick:
            next_tick += 0.1
            change = ctl.tick(t)
            if change is not None:
                run.changes.append(change)
                pending_apply = (t + 0.01, change)
    return run


def fits(index: int, rate: float) -> bool:
    """Does ladder point ``index`` cost at most ``rate`` (the frame-size ladder of the default
    settings: a 10 fps point's frame crosses ``rate`` within frame_budget_ms)?"""
    return LADDER[index].kbps <= rate


def test_steps_down_when_the_link_shrinks_and_latency_recovers() -> None:
    run = simulate(lambda t: 3000 if t < 20 else 250, 40)
    assert run.index_at(19.5) >= 4, "climbed while the link was wide"
    # A drop first looks like a pause (frames overdue, none queued yet): held pause_hold_s.
    settle = 20 + Settings().pause_hold_s + 4.5
    assert fits(run.index_at(settle), 250), f"still at {KBPS[run.index_at(settle)]} kbps at {settle} s"
    late = sorted(run.latencies(26, 40))
    assert late and late[int(0.95 * (len(late) - 1))] < 1.0
    assert any(c.state == State.DEGRADE for c in run.changes)
    assert run.controller.estimator.clock_steps == 0  # a queue is seen on both clocks: no step


def test_steps_up_when_the_link_grows() -> None:
    # 200 kbps: the 300 kbps point does not fit (at 250 the edge's window of 2 would keep its
    # queue under a frame, and holding it is fine: latency stays bounded).
    run = simulate(lambda t: 200 if t < 15 else 4000, 45)
    assert fits(run.index_at(14.5), 200)
    lat = sorted(run.latencies(3, 15))
    assert lat[int(0.95 * (len(lat) - 1))] < 1.0
    assert run.index_at(44.0) == len(KBPS) - 1, [(round(c.at_s, 1), c.index, c.reason) for c in run.changes]
    assert any(c.state == State.PROBE or c.state == State.STARTUP for c in run.changes if c.at_s > 15)


@pytest.mark.parametrize("period_s", [1.0, 4.0])
def test_oscillating_link_does_not_flap(period_s: float) -> None:
    run = simulate(lambda t: 400 if int(t / period_s) % 2 else 2500, 60)
    applied = [c for c in run.changes if c.at_s > 5]
    assert len(applied) <= 55 / 2, f"{len(applied)} changes in 55 s"
    lat = sorted(run.latencies(5, 60))
    assert lat[int(0.95 * (len(lat) - 1))] < 1.0
    assert run.controller.estimator.clock_steps == 0


def test_clock_offset_does_not_matter() -> None:
    a = simulate(lambda t: 3300 if t < 10 else 330, 20, offset_s=0.0)
    b = simulate(lambda t: 3300 if t < 10 else 330, 20, offset_s=-987654.321)
    # Identical up to floating-point ties at thresholds: the chosen point agrees nearly always.
    times = [i * 0.1 for i in range(200)]
    same = sum(a.index_at(t) == b.index_at(t) for t in times)
    assert same >= 0.9 * len(times)
    assert a.index_at(19.9) == b.index_at(19.9)


def test_silence_steps_to_the_safest_point_and_startup_follows() -> None:
    run = simulate(lambda t: 3000, 25, feedback_until_s=12.0)
    ctl = run.controller
    assert run.index_at(11.5) >= 3
    silent = [c for c in run.changes if "no feedback" in c.reason]
    assert silent and silent[0].index == 0 and 12.0 + 2.0 < silent[0].at_s < 12.0 + 3.5
    assert ctl.index == 0 and ctl.state == State.DEGRADE


def test_after_an_outage_the_point_held_before_is_tried_at_once() -> None:
    # A 4 s outage: nothing gets through, so no feedback; then the link comes back as it was.
    run = simulate(lambda t: 0.0 if 10 <= t < 14 else 2000, 30)
    before = run.index_at(9.5)
    silent = [c for c in run.changes if "no feedback" in c.reason]
    assert silent and silent[0].index == 0, [c.reason for c in run.changes]
    back = [c for c in run.changes if c.at_s > silent[0].at_s and "before the outage" in c.reason]
    assert back and back[0].index == before and back[0].at_s < 14 + 2.0
    assert run.index_at(29.0) >= before
    # The way back does not wait for min_samples masks of the safest point (poor ones): the
    # first frame that crossed without queuing is enough.
    poor = [when for when, _ in run.latency if when > 10 and run.index_at(when) == 0]
    assert len(poor) <= 3, poor


def test_after_a_stall_the_point_held_before_is_tried_once_the_backlog_drained() -> None:
    # The link nearly stops for 6 s with more frames in flight than the window's 2 (the edge's
    # window expires frames after a timeout): feedback stops, and when the link is back the
    # first frames of the safest point queue behind the stuck ones. That backlog draining is
    # not news about the link: the point held before is still tried at once, not climbed to.
    # (On the stream-rate ladder: the frame-size ladder presumes a window of two.)
    run = simulate(
        lambda t: 2000 if t < 10 or t >= 16 else 30, 40, max_in_flight=6, settings=Settings(frame_budget_ms=0)
    )
    before = run.index_at(9.5)
    assert any("no feedback" in c.reason for c in run.changes)
    back = [c for c in run.changes if c.at_s > 16 and "before the outage" in c.reason]
    assert back and back[0].index == before and back[0].at_s < 16 + 2.0, [c.reason for c in run.changes]


def test_a_failed_way_back_after_an_outage_lands_on_what_the_link_carries() -> None:
    # The link comes back smaller than before the outage: the probe of the old point fails,
    # and what it measured decides where to fall back to, not the bottom of the ladder.
    run = simulate(lambda t: 2000 if t < 10 else (0.0 if t < 14 else 700), 30)
    back = [c for c in run.changes if c.at_s > 14 and "before the outage" in c.reason]
    failed = [c for c in run.changes if c.at_s > 14 and "probe failed" in c.reason]
    assert back and failed, [(c.at_s, c.index, c.reason) for c in run.changes]
    assert fits(failed[0].index, 700) and KBPS[failed[0].index] >= 300


def test_a_link_that_measures_far_more_is_climbed_in_jumps() -> None:
    # Congestion for 4 s pushes the controller to the bottom; then the link measures 2000 kbps
    # again: each climb goes to the best point that rate carries with headroom, not one rung.
    # (On the stream-rate ladder, whose rungs are 2x apart as the climb factor's 4x needs.)
    run = simulate(
        lambda t: 2000 if t < 10 or t >= 14 else 100,
        40,
        max_in_flight=6,
        settings=Settings(frame_budget_ms=0),
    )
    before = run.index_at(9.5)
    climbs = [c for c in run.changes if c.at_s > 14 and c.index > c.previous]
    back = next(c for c in climbs if c.index >= before)
    assert back.at_s < 22.0 and climbs.index(back) <= 1, [(c.at_s, c.index, c.reason) for c in climbs]


@pytest.mark.parametrize("pause_s", [0.6, 1.0, 1.8])
def test_a_link_that_pauses_is_waited_out(pause_s: float) -> None:
    # Cellular uplinks stop for a second or two and come back at the same rate. A smaller
    # point would not help the frames already in flight: hold the point, say why.
    run = simulate(lambda t: 0.0 if 10 <= t < 10 + pause_s else 1000, 30)
    before = run.index_at(9.9)
    assert not [c for c in run.changes if c.at_s > 9.9], [(c.at_s, c.reason) for c in run.changes]
    assert run.index_at(29.0) == before
    late = [lat for _, lat in run.latency if lat > 0.3]
    assert max(late) < pause_s + 0.4 and len(late) <= 2 + 10 * pause_s, "only the pause's own frames waited"


def test_a_pause_longer_than_the_hold_steps_down_and_comes_back() -> None:
    # Feedback overdue for more than pause_hold_s but less than feedback_timeout_s (the link
    # trickles): step down, then back to the point held before once the backlog drained.
    run = simulate(lambda t: 5.0 if 10 <= t < 12.4 else 1000, 30)
    before = run.index_at(9.9)
    down = [c for c in run.changes if c.at_s > 10 and c.index < before]
    back = [c for c in run.changes if c.at_s > 10 and c.index == before]
    assert down and back and back[0].at_s < 16.0, [(c.at_s, c.index, c.reason) for c in run.changes]


def test_a_trickling_link_is_not_climbed_as_if_idle() -> None:
    # A cellular uplink that carries a packet a second for seconds between short bursts (the
    # UMTS trace's second half): frames cross alone, too few to measure a rate with, which
    # also happens on an idle link. Only the idle link may be climbed on; here every climb
    # sends bigger frames into the next trickle.
    def trickle(t: float) -> float:
        return 1000 if t < 10 or (t - 10) % 3.0 > 2.4 else 8

    run = simulate(trickle, 50)
    climbs = [
        (round(c.at_s, 1), c.index, c.reason) for c in run.changes if c.at_s > 12 and c.index > c.previous
    ]
    assert not climbs
    assert run.index_at(49.0) == 0


def test_a_link_that_shrinks_is_not_taken_for_a_pause() -> None:
    run = simulate(lambda t: 1000 if t < 10 else 250, 40)
    assert not any("before the stall" in c.reason for c in run.changes)
    assert fits(run.index_at(20.0), 250)


def test_after_an_outage_a_smaller_link_is_not_blamed_on_the_old_point() -> None:
    run = simulate(lambda t: 2000 if t < 10 else (0.0 if t < 14 else 250), 30)
    # Probes of bigger points may come and go (each reverted within a probe's time); the
    # point held in between is one that fits.
    held = [run.index_at(22.0 + 0.1 * k) for k in range(80)]
    assert sum(fits(i, 250) for i in held) >= 2 / 3 * len(held), [(c.at_s, c.index) for c in run.changes]
    too_big = [
        (a.at_s, b.at_s - a.at_s) for a, b in itertools.pairwise(run.changes) if not fits(a.index, 250)
    ]
    assert all(d <= Settings().probe_s + 1.0 for t, d in too_big if t > 16), too_big


def test_refused_change_keeps_state_consistent() -> None:
    refused_point = len(KBPS) - 1
    run = simulate(
        lambda t: 4000, 30, refuse=lambda i: "bitrate_kbps out of range" if i == refused_point else None
    )
    ctl = run.controller
    assert ctl.refusals >= 1
    assert refused_point not in [i for _, i in run.index]
    assert "refused" in ctl.reason or ctl.index != refused_point
    assert ctl.pending is None
    assert run.index_at(29.0) == refused_point - 1, "settled just below the refused point"


def test_an_answer_after_the_request_was_given_up_still_counts() -> None:
    """The edge answers a change after request_timeout_s (a busy executor): the policy had taken
    it for refused, but the edge runs it, and the policy must believe so (it dropped the late
    answer, and went on computing from a point the edge no longer ran)."""
    ctl = BitrateController(make_profile(), Settings())
    ctl.confirmed(ctl.tick(0.0), 0.0)
    first = ctl.index
    change = ctl._propose(first + 1, State.PROBE, "probe", 1.0)
    assert ctl.tick(1.0 + ctl.settings.request_timeout_s + 0.1) is None  # given up
    assert ctl.pending is None and ctl.index == first and ctl.refusals == 1
    assert ctl.confirmed(change, 5.0) is change
    assert ctl.index == first + 1 and ctl._usable(first + 1), "no longer set aside as refused"
    # Given up again, and a newer request asked: the late answer to the first still counts
    # (the edge answers in order), and the newer one decides once it is answered or refused.
    up = ctl._propose(first + 2, State.PROBE, "probe", 10.0)
    assert ctl.tick(10.0 + ctl.settings.request_timeout_s + 0.1) is None  # given up
    down = ctl._propose(first, State.DEGRADE, "step down", 20.0)
    assert ctl.confirmed(up, 20.5) is up and ctl.index == first + 2 and ctl.pending is down
    ctl.refused(down, "busy", 21.0)
    assert ctl.index == first + 2, "the edge runs the point of the late answer"
    # An answer older than one already applied says nothing about what the edge runs now.
    older = Change(first + 1, first, State.PROBE, "older", 9.0)
    assert ctl.confirmed(older, 22.0) is None and ctl.index == first + 2


def test_estimator_rate_and_queuing_on_a_known_link() -> None:
    est = LinkEstimator(rate_window_s=2.0)
    offset, prop, rate_bps = 500.0, 0.03, 1_000_000
    link_free = 0.0
    for i in range(40):  # 10 KB frames every 50 ms on a 1 Mbit/s link: 1.6 x overload
        send = i * 0.05
        start = max(send, link_free)
        link_free = start + 10_000 * 8 / rate_bps
        est.add(FeedbackSample(i, 10_000, send, link_free + prop + offset, link_free + 2 * prop))
    rate = est.rate_kbps(2.0)
    assert rate == pytest.approx(1000, rel=0.05)
    last = est.recent(1.9)[-1]
    # The 40th frame waited behind ~0.6 of a frame per step: about 0.95 s more than the first.
    assert est.queuing_ms(last) == pytest.approx((link_free - 39 * 0.05 - 0.08) * 1e3, abs=5)
    assert est.clock_steps == 0  # a queue that grows is seen on both clocks: no step


def test_a_clock_step_is_not_read_as_queuing() -> None:
    """The cloud's clock stepping 5 s ahead (or the robot's 3 s back) mid-run shifts every later
    one-way delay; the round trip on the robot's clock says no queue grew."""
    step_at = 4.95  # true time: frame 49 (sent 4.9 s) is in flight then, its feedback comes after
    for cloud, robot in ((5.0, 0.0), (0.0, -3.0)):
        est = LinkEstimator()
        samples = []

        def cloud_clock(t: float, cloud: float = cloud) -> float:
            return t + 100.0 + (cloud if t >= step_at else 0.0)

        def robot_clock(t: float, robot: float = robot) -> float:
            return t + (robot if t >= step_at else 0.0)

        for i in range(100):  # 10 fps, 8 KB frames on a 2 Mbit/s link: 32 ms each, no queue
            send = i * 0.1
            recv = send + 0.02 + 0.032
            arrival = recv + 0.05 + 0.02
            s = FeedbackSample(i, 8000, robot_clock(send), cloud_clock(recv), robot_clock(arrival), 0.05)
            est.add(s)
            samples.append(s)
        assert est.clock_steps == 1, (cloud, robot)
        assert max(est.queuing_ms(s) for s in samples[53:]) < 5.0, "read the step as queuing"
        assert est.rate_kbps(samples[-1].send_s, 1) is None  # an idle link, as before the step
        assert len(est.recent(samples[-1].send_s - 100)) <= 51  # the samples before the step are gone


def test_controller_holds_its_point_through_a_cloud_clock_step() -> None:
    steady = simulate(lambda t: 3000, 40)
    stepped = simulate(lambda t: 3000, 40, cloud_step=(20.0, 5.0))
    assert stepped.controller.estimator.clock_steps == 1
    assert stepped.index_at(19.9) == steady.index_at(19.9) >= 4
    # A step is seen after 3 frames: at most one step down, and back up within the hold time.
    assert min((i for t, i in stepped.index if t >= 20), default=99) >= steady.index_at(19.9) - 1
    assert stepped.index_at(39.9) == steady.index_at(39.9)


def test_estimator_ignores_idle_time() -> None:
    est = LinkEstimator()
    for i in range(20):  # 2 KB frames every 100 ms on a 1 Mbit/s link: idle 84% of the time
        send = i * 0.1
        est.add(FeedbackSample(i, 2000, send, send + 0.016 + 7.0, send + 0.1))
    # Each frame crossed in 16 ms, but the base delay already holds the transmission time of the
    # smallest frame: the estimator cannot see this link's rate and must say so.
    assert est.rate_kbps(2.0) is None
    assert est.sent_kbps(2.0) == pytest.approx(160, rel=0.1)


# ---------------------------------------------------------------------- profile files
def test_profile_round_trip(tmp_path: Path) -> None:
    path = save_profile(make_profile(), tmp_path / "p.yaml", header="test")
    loaded = load_profile(path)
    assert [p.kbps for p in loaded.points] == list(KBPS)
    assert loaded.fitting(700) == 3 and loaded.fitting(10) == 0


def test_pareto_keeps_only_undominated_points() -> None:
    knobs = {"downscale": 1, "codec": "h264", "bitrate_kbps": 100, "fps_cap": 0.0}
    pts = [
        ProfilePoint("a", knobs, 100, 0.5),
        ProfilePoint("b", knobs, 200, 0.4),
        ProfilePoint("c", knobs, 300, 0.6),
    ]
    assert [p.name for p in pareto(pts)] == ["a", "c"]


_ONE_POINT = "pareto:\n- {name: a, knobs: {downscale: 4, codec: h264, bitrate_kbps: 100, fps_cap: 0.0}, kbps: 100, miou: 0.5"


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "empty"),
        ("pareto: []\n", "non-empty"),
        (
            "pareto:\n- {name: a, knobs: {downscale: 4, codec: h264, bitrate_kbps: 100, fps_cap: 0.0}, kbps: 100, "
            "miou: 0.5}\n- {name: b, knobs: {downscale: 2, codec: h264, bitrate_kbps: 200, fps_cap: 0.0}, kbps: 200, "
            "miou: 0.4}\n",
            "more accurate",
        ),
        (
            "pareto:\n- {name: a, knobs: {downscale: 4, codec: h264, bitrate_kbps: 100, fps_cap: 0.0, warp: 9}, "
            "kbps: 100, miou: 0.5}\n",
            "unknown knob",
        ),
        (
            "pareto:\n- {name: a, knobs: {downscale: 0, codec: h264, bitrate_kbps: 100, fps_cap: 0.0}, kbps: 100, "
            "miou: 0.5}\n",
            "downscale",
        ),
        (
            "pareto:\n- {name: a, knobs: {downscale: 4, codec: h264, fps_cap: 0.0}, kbps: 100, miou: 0.5}\n",
            "bitrate_kbps",
        ),
        ("pareto: [1, 2\n", "cannot read"),
        (_ONE_POINT + ", miou_fresh: .nan}\n", r"miou_fresh=.*within 0\.\.1"),
        (_ONE_POINT + ", miou_fresh: 25.3}\n", r"miou_fresh=.*within 0\.\.1"),
        (_ONE_POINT + ", miou_fresh: high}\n", "miou_fresh=.*number"),
        (_ONE_POINT + "}\ncamera: {fps: 0}\n", "camera fps=0 must be a number > 0"),
        (_ONE_POINT + "}\ncamera: {fps: .inf}\n", "camera fps=inf"),
        (_ONE_POINT + "}\ncamera: 1024x512\n", "'camera' must be a mapping"),
    ],
)
def test_bad_profile_files_are_refused_with_their_name(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad_profile.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_missing_profile_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_profile(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_shipped_profile_is_valid() -> None:
    from cloudseg_ros.paths import config_file

    profile = load_profile(config_file("profile.yaml"))
    assert len(profile) >= 3
    assert profile.meta.get("camera", {}).get("fps", 0) > 0


def test_a_camera_rate_other_than_the_profiles_is_named_with_the_fix() -> None:
    from cloudseg_ros.paths import config_file

    profile = load_profile(config_file("profile.yaml"))
    fps = profile.camera_fps
    assert profile.camera_mismatch(fps) is None
    assert profile.camera_mismatch(fps * 1.04) is None  # within 5%: a camera's nominal rate
    assert profile.camera_mismatch(math.nan) is None and profile.camera_mismatch(0.0) is None  # nothing known
    problem = profile.camera_mismatch(3 * fps)
    assert problem and "profile.yaml" in problem and f"{fps:g} fps camera" in problem
    assert f"{3 * fps:g} fps" in problem and "0.33x" in problem  # frames a third of the ladder's sizes
    assert f"cloudseg profile --fps {3 * fps:g}" in problem
    ladder = frame_ladder(profile, 200.0)  # what the node holds: same camera, same source
    assert ladder.camera_mismatch(3 * fps) == problem


def test_no_feedback_at_all_falls_back_to_the_safest_point() -> None:
    settings = Settings(start_index=3, first_feedback_s=2.5)
    run = simulate(lambda t: 3000, 6, feedback_until_s=0.0, settings=settings)
    assert run.index_at(0.5) == 3
    fallback = [c for c in run.changes if "no feedback yet" in c.reason]
    assert fallback and fallback[0].index == 0 and 2.5 <= fallback[0].at_s < 3.5
    assert run.controller.state == State.STARTUP  # ready to climb once the cloud answers


def test_a_cloud_that_takes_seconds_to_answer_first_is_no_outage() -> None:
    # The cloud loads and warms up its models: no feedback for the first 6 s, then it answers.
    run = simulate(lambda t: 3000, 12, feedback_from_s=6.0)
    reasons = [(round(c.at_s, 1), c.index, c.reason) for c in run.changes]
    assert not any("no feedback" in c.reason for c in run.changes), reasons
    assert run.index_at(5.9) == LADDER.fitting(150)
    assert run.index_at(11.9) > LADDER.fitting(150), reasons


def test_the_first_point_is_the_best_under_start_kbps() -> None:
    profile = make_profile()
    assert Settings().first_index(profile) == KBPS.index(150)
    assert Settings(start_kbps=0).first_index(profile) == 0
    assert Settings(start_kbps=50).first_index(profile) == 0  # nothing fits: the safest
    assert Settings(start_index=4).first_index(profile) == 4  # an explicit point wins
    with pytest.raises(ValueError):
        Settings(start_index=-2).validate()
    with pytest.raises(ValueError):
        BitrateController(profile, Settings(start_index=len(KBPS)))


def test_a_link_smaller_than_the_start_point_is_left_for_one_it_carries() -> None:
    run = simulate(lambda t: 80, 20)
    assert run.changes[0].index == LADDER.fitting(150)
    reasons = [(round(c.at_s, 1), c.index, c.reason) for c in run.changes]
    times = [6 + 0.1 * i for i in range(140)]
    assert sum(fits(run.index_at(t), 80) for t in times) >= 0.8 * len(times), reasons
    assert not any("before the stall" in c.reason for c in run.changes), reasons  # a small link is no stall
    lat = sorted(run.latencies(5, 20))
    assert lat[int(0.95 * (len(lat) - 1))] < 1.0


def test_startup_waits_out_a_queuing_spike_and_keeps_climbing() -> None:
    # Small frames on a fast link (no rate to measure), and for 3 frames they queue 200 ms
    # (between probe_delay_ms and degrade_delay_ms): startup waits for the queue to clear and
    # climbs on, instead of holding the point for hold_s.
    profile = make_profile()
    ctl = BitrateController(profile)
    seq, t, first_climb = 0, 0.0, None
    while t < 4.0:
        if (change := ctl.tick(t)) is not None:
            ctl.confirmed(change, t)
            if change.previous >= 0 and t > 1.25 and first_climb is None:
                first_climb = change
        seq += 1
        owd = 0.02 + (0.2 if 1.25 <= t < 2.0 else 0.0)
        ctl.feedback(FeedbackSample(seq, 400, t, t + owd + 50.0, t + owd + 0.03))
        t = round(t + 0.25, 6)  # 4 fps: each frame crosses alone, no rate to measure
    assert first_climb is not None and first_climb.state == State.STARTUP, ctl.reason
    assert first_climb.at_s < 2.0 + Settings().hold_s / 2


def test_a_failed_probe_also_holds_back_the_points_above_it() -> None:
    # On a weak link every probe restarts the stream with a key frame that queues: after the
    # probe of one point failed, a bigger point is not tried instead while it backs off.
    ctl = BitrateController(make_profile(), Settings(start_index=1))
    ctl.confirmed(ctl.tick(0.0), 0.0)
    ctl._now_s = 1.0
    assert ctl._climb_target(None) == 3  # link too idle to measure: up to 4x the kbps
    ctl._back_off(2, 1.0)
    assert ctl._climb_target(None) is None  # 2 is backing off, and so is everything above it
    ctl._now_s = 1.0 + Settings().hold_s + 0.1
    assert ctl._climb_target(None) == 3


def test_an_outage_before_any_point_proved_itself_resumes_at_the_start_point() -> None:
    run = simulate(lambda t: 0.0 if 1.5 <= t < 5.0 else 3000, 12)
    reasons = [(round(c.at_s, 1), c.index, c.reason) for c in run.changes]
    silent = next(c for c in run.changes if "no feedback" in c.reason)
    after = [c for c in run.changes if c.at_s > silent.at_s]
    assert after and "before the outage" in after[0].reason, reasons
    assert after[0].index >= Settings().first_index(make_profile()), reasons


def test_points_with_frames_too_big_for_the_link_are_not_climbed_to() -> None:
    # At 1000 kbps measured a 2400 kbps point's 240 kbit frames take 240 ms each, a 1200 kbps
    # point's 120 ms: over max_frame_ms (100), whatever the rate headroom says.
    # On the stream-rate ladder (the frame-size ladder's costs are frame times already).
    ctl = BitrateController(make_profile(), Settings(start_index=0, frame_budget_ms=0))
    ctl.confirmed(ctl.tick(0.0), 0.0)
    assert ctl._quick_below(5, 1000.0) == 3
    assert ctl._quick_below(5, None) == 5  # nothing measured: no limit
    assert ctl._quick_below(5, 1.0) == 0  # nothing fits: stay
    off = BitrateController(make_profile(), Settings(start_index=0, frame_budget_ms=0, max_frame_ms=0))
    off.confirmed(off.tick(0.0), 0.0)
    assert off._quick_below(5, 1000.0) == 5
    with pytest.raises(ValueError):
        Settings(max_frame_ms=-1).validate()


def test_after_trouble_an_unmeasurable_link_is_climbed_one_point_at_a_time() -> None:
    # Frames too alike to measure the rate with (every one crosses alone, in 20 ms): after a
    # step down that is no sign of an idle link, so the next probe is one point up, not 4x.
    ctl = BitrateController(make_profile(), Settings(start_index=1))
    ctl.confirmed(ctl.tick(0.0), 0.0)
    ctl.state = State.STEADY
    probe = None
    for seq in range(1, 80):
        t = seq * 0.1
        ctl.feedback(FeedbackSample(seq, 1800, t, t + 0.02 + 77.0, t + 0.05))
        if (probe := ctl.tick(t + 0.05)) is not None:
            break
    assert probe is not None and probe.state == State.PROBE, ctl.reason
    assert probe.index == 2, probe.reason


def test_the_frame_ladder_ranks_points_by_frame_size_and_costs_their_crossing() -> None:
    def point(
        name: str, bitrate: int, fps_cap: float, kbps: float, fresh: float, codec: str = "h264"
    ) -> ProfilePoint:
        knobs = {"downscale": 1, "codec": codec, "fps_cap": fps_cap}
        knobs.update({"jpeg_quality": 60} if codec == "jpeg" else {"bitrate_kbps": bitrate})
        return ProfilePoint(name, knobs, kbps, fresh - 0.05, miou_fresh=fresh)

    full = point("full-1000k", 1000, 0.0, 500.0, 0.50)  # 100 kbit frames (the selector skipped half)
    capped = point("capped-500k-5fps", 500, 5.0, 450.0, 0.49)  # 100 kbit frames too, fewer of them
    big = point("capped-1000k-5fps", 1000, 5.0, 900.0, 0.52)  # 200 kbit frames
    small = point("full-200k", 200, 0.0, 100.0, 0.40)  # 20 kbit frames
    jpeg = point("jpeg", 0, 0.0, 50.0, 0.45, codec="jpeg")  # no bit budget: frame size unknown
    profile = Profile([small, full, big], {"camera": {"fps": 10.0}}, [small, full, capped, big, jpeg])
    ladder = frame_ladder(profile, 200.0)
    assert [p.name for p in ladder.points] == ["full-200k", "full-1000k", "capped-1000k-5fps"]
    # The rate that carries one frame in 200 ms, whatever the stream's rate.
    assert [p.kbps for p in ladder.points] == pytest.approx([100.0, 500.0, 1000.0])
    assert [p.miou for p in ladder.points] == pytest.approx([0.40, 0.50, 0.52])  # a mask's accuracy
    assert "200 ms" in ladder.meta["ladder"]
    assert full.frame_kbit(10.0) == pytest.approx(100.0) and capped.frame_kbit(10.0) == pytest.approx(100.0)
    with pytest.raises(ValueError):
        frame_ladder(profile, 0.0)
    # The controller climbs it by default, and the stream-rate ladder with frame_budget_ms 0.
    assert [p.name for p in BitrateController(profile).profile.points] == [p.name for p in ladder.points]
    assert BitrateController(profile, Settings(frame_budget_ms=0)).profile is profile


def test_a_probe_is_not_failed_by_the_key_frame_that_restarts_the_stream() -> None:
    # Every change restarts the edge's stream with a key frame several times a frame's size,
    # and the frames sent while it crosses wait behind it. That is the change's one-off cost:
    # the point is judged on the frames after it, so the climb goes where the link carries.
    run = simulate(lambda t: 1800, 30, key_factor=6.0)
    target = LADDER.fitting(1800 * 0.95 * Settings().headroom)  # (the estimate runs a little low)
    assert target == len(LADDER) - 1
    assert run.index_at(29.0) == target, [(round(c.at_s, 1), c.index, c.reason) for c in run.changes]
    assert not [c for c in run.changes if "failed" in c.reason], [c.reason for c in run.changes]


@pytest.mark.parametrize("trickle", [False, True])
def test_startup_climbs_an_idle_link_but_not_a_trickling_one(trickle: bool) -> None:
    # Startup (as after every outage) at the safest point, small frames whose rate cannot be
    # measured. Crossing at once, that is an idle link to climb; crossing one at a time a
    # second or more late, a trickle, where a bigger point's key frame would take seconds.
    ctl = BitrateController(make_profile(), Settings(start_index=0))
    seq, t, climbs = 0, 0.0, []
    while t < 8.0:
        if (change := ctl.tick(t)) is not None:
            ctl.confirmed(change, t)
            if change.previous >= 0:
                climbs.append(change)
        seq += 1
        owd = 0.02 + (1.2 if trickle and seq % 4 == 0 else 0.0)  # the median stays low
        ctl.feedback(FeedbackSample(seq, 300, t, t + owd + 50.0, t + owd + 0.03))
        t = round(t + 0.25, 6)
    assert bool(climbs) != trickle, [(c.at_s, c.reason) for c in climbs] or ctl.reason


def test_a_probe_whose_frames_take_longer_than_their_budget_fails() -> None:
    # The edge's window keeps the queue of a point too big for the link short (it sends fewer
    # frames, and one at a time once a frame crossed slowly: in_flight_slow_ms), so the queuing a probe sees stays within the ladder's allowance; the rate the
    # probe measures tells: p300's 30 kbit frames take 300 ms at 100 kbps, its budget 200 ms.
    # (The link was wide for a second before: what a frame takes alone is known.)
    ctl = BitrateController(make_profile(), Settings(start_index=1))
    ctl.confirmed(ctl.tick(0.0), 0.0)
    link: deque[list] = deque()
    in_flight, acks, seq, verdict, dt = 0, [], 0, None, 0.001
    for step in range(4000):
        t = step * dt
        if step == 1000:  # the link narrows as the probe begins
            ctl.confirmed(ctl._propose(2, State.PROBE, "probe: link idle", t), t)
            ctl._probe_from = 1
        if step % 100 == 0 and in_flight < 1:  # 10 fps camera; one frame in flight on a slow link
            seq, in_flight = seq + 1, in_flight + 1
            size = int(make_profile()[ctl.index].kbps * 1000 / 8 / 10)
            link.append([seq, size * 8, size, t])
        for head in drain(link, (3000 if step < 1000 else 100) * 1000 * dt):
            acks.append((t + 0.09, FeedbackSample(head[0], head[2], head[3], t + 0.02 + 77.0, t + 0.09)))
        for arrival, sample in [a for a in acks if a[0] <= t]:
            acks.remove((arrival, sample))
            in_flight -= 1
            ctl.feedback(sample)
            assert ctl.estimator.queuing_ms(sample) < Settings().frame_budget_ms + Settings().probe_delay_ms
        if step > 1000 and step % 100 == 50 and (verdict := ctl.tick(t)) is not None:
            break
    assert LADDER[2].kbps > 100 >= LADDER[1].kbps
    assert verdict is not None and verdict.index == 1, ctl.reason
    assert "probe failed" in verdict.reason and "kbps measured" in verdict.reason, verdict.reason


def test_a_floor_leaves_the_poorest_points_off_the_ladder() -> None:
    assert PolicySettings().min_accuracy_ratio > 0  # on by default
    ladder = LADDER
    top = max(p.miou for p in ladder.points)
    floored = floor_ladder(ladder, 0.8)
    assert [p.name for p in floored.points] == [p.name for p in ladder.points if p.miou >= 0.8 * top]
    assert 0 < len(floored) < len(ladder) and floored[len(floored) - 1].name == ladder[len(ladder) - 1].name
    assert floor_ladder(ladder, 0.0) is ladder and len(floor_ladder(ladder, 1.0)) == 1
    with pytest.raises(ValueError, match="min_accuracy_ratio"):
        BitrateController(make_profile(), Settings(min_accuracy_ratio=1.5))


def test_with_a_floor_silence_steps_to_the_cheapest_point_left() -> None:
    # The safest point is the floor's: the poorer rungs are never sent, not even in an outage.
    settings = Settings(min_accuracy_ratio=0.8)
    run = simulate(lambda t: 3000, 25, feedback_until_s=12.0, settings=settings)
    ctl = run.controller
    floor = floor_ladder(LADDER, 0.8)
    assert ctl.profile.points == floor.points
    silent = [c for c in run.changes if "no feedback" in c.reason]
    assert silent and silent[0].index == 0 and ctl.profile[0].name == floor[0].name != LADDER[0].name


def test_a_restarted_edge_numbering_from_1_again_is_still_measured() -> None:
    """An edge node that restarts numbers its frames from 1 again: their feedback was taken
    for repeats of the frames of the last 30 s and dropped, and the controller saw silence
    (the safest point for 14 s in a replay). A repeat of one frame's feedback still counts once."""
    est = LinkEstimator()
    for i in range(1, 51):
        assert est.add(FeedbackSample(i, 2000, i * 0.1, i * 0.1 + 1000.05, i * 0.1 + 0.1))
    assert not est.add(FeedbackSample(50, 2000, 5.0, 1005.05, 5.2))  # the same frame again
    again = [
        est.add(FeedbackSample(i, 2000, 10 + i * 0.1, 1010.05 + i * 0.1, 10.1 + i * 0.1))
        for i in range(1, 51)
    ]
    assert all(again) and est.count == 100


def test_a_refused_start_point_is_not_asked_for_on_every_tick() -> None:
    """An edge that refuses the start point (e.g. a codec it lacks) was asked for it again on
    every tick (50 requests in 5 s); now once per min_interval_s, and for points it has not
    refused lately."""
    from cloudseg_ros.paths import config_file

    ctl = BitrateController(load_profile(config_file("profile.yaml")), Settings())
    asked = []
    for k in range(50):
        now = k * 0.1
        change = ctl.tick(now)
        if change is not None:
            asked.append(change.index)
            ctl.refused(change, "codec not available", now)
    assert 1 <= len(asked) <= 6 and len(set(asked)) == len(asked), asked
