"""Pure logic of the bridge: topic <-> key mapping, the newest-wins queue, the in-flight window.

Verifies: the zenoh-bridge-ros2dds key rule on a table of names, rejection of bad names,
robot extraction from keys; queue bounds and drop counting across threads; credit
accounting, cumulative acknowledgement and expiry; the message size limit of build_config on
two real zenoh sessions (test_graph.py runs the real two-process bridge).
"""

from __future__ import annotations

import threading
import time

import pytest

from cloudseg_ros.bridge import keys
from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.bridge.queue import LatestQueue
from cloudseg_ros.errors import ConfigError


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("/car1/cloudseg/uplink", "car1/cloudseg/uplink"),
        ("/fleet/car_2/cloudseg/mask", "fleet/car_2/cloudseg/mask"),
        ("/chatter", "chatter"),
    ],
)
def test_topic_key_round_trip(topic: str, key: str) -> None:
    assert keys.topic_to_key(topic) == key
    assert keys.key_to_topic(key) == topic


@pytest.mark.parametrize(
    "bad", ["car1/cloudseg/uplink", "/", "/car 1/x", "/1car/x", "/a//b", "/a/*/b", "/a/$b"]
)
def test_bad_topics_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        keys.topic_to_key(bad)


@pytest.mark.parametrize("bad_key", ["*/cloudseg/uplink", "**/x", "a/$*/b", ""])
def test_wildcard_keys_are_not_topics(bad_key: str) -> None:
    with pytest.raises(ConfigError):
        keys.key_to_topic(bad_key)


def test_robot_of_key() -> None:
    assert keys.robot_of_key("car1/cloudseg/uplink", keys.UPLINK) == "car1"
    assert keys.robot_of_key("fleet/car1/cloudseg/uplink", keys.UPLINK) == "fleet/car1"
    longest = "r" * keys.MAX_ROBOT_ID  # longer ids are no ROS topic a bridge can create
    assert keys.robot_of_key(f"{longest}/cloudseg/uplink", keys.UPLINK) == longest
    assert keys.robot_of_key(f"{longest}x/cloudseg/uplink", keys.UPLINK) is None
    assert keys.robot_of_key("cloudseg/uplink", keys.UPLINK) is None  # no robot namespace
    assert keys.robot_of_key("car1/cloudseg/mask", keys.UPLINK) is None
    assert keys.robot_of_key("9car/cloudseg/uplink", keys.UPLINK) is None
    assert keys.robot_key("/car1/", keys.FEEDBACK) == "car1/cloudseg/feedback"
    assert keys.robots_selector(keys.UPLINK) == "**/cloudseg/uplink"


def test_latest_queue_keeps_newest_and_counts_drops() -> None:
    q: LatestQueue[int] = LatestQueue(2)
    assert q.put(1) is None and q.put(2) is None
    assert q.put(3) == 1  # oldest out
    assert q.dropped == 1 and len(q) == 2
    assert [q.get_nowait(), q.get_nowait(), q.get_nowait()] == [2, 3, None]
    q.put(4)
    q.resize(1)
    q.put(5)
    assert q.get_nowait() == 5 and q.dropped == 2


def test_latest_queue_bounded_under_a_flood() -> None:
    q: LatestQueue[int] = LatestQueue(4)
    got: list[int] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or len(q):
            item = q.get(timeout=0.01)
            if item is not None:
                got.append(item)
                time.sleep(0.001)  # slower than the producer

    t = threading.Thread(target=consume)
    t.start()
    for i in range(5000):
        q.put(i)
        assert len(q) <= 4
    done.set()
    t.join(5)
    assert got[-1] == 4999  # the newest always arrives
    assert q.dropped + len(got) == 5000
    assert got == sorted(got)  # FIFO among survivors


def test_latest_queue_close_wakes_consumer() -> None:
    q: LatestQueue[int] = LatestQueue(1)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(q.get(timeout=10)))
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(2)
    assert result == [None] and not t.is_alive()


def test_window_limits_and_cumulative_ack() -> None:
    w = InFlightWindow(2, timeout_s=10)
    assert w.has_room()
    w.sent(1)
    w.sent(2)
    assert not w.has_room() and w.in_flight() == 2
    assert w.acknowledge(1) == 1 and w.has_room()
    w.sent(3)
    assert w.acknowledge(3) == 2  # acknowledges 2 as well
    assert w.in_flight() == 0


def test_window_expiry_backs_off_until_an_acknowledgement() -> None:
    # A link that stopped: each expiry without an ack doubles the timeout (up to 4x), so the
    # edge does not push a frame into the stuck queue every timeout_s; an ack restores it.
    w = InFlightWindow(1, timeout_s=1.0)
    w.sent(1, now=0.0)
    assert not w.has_room(now=0.9) and w.has_room(now=1.0)  # first expiry after timeout_s
    w.sent(2, now=1.0)
    assert not w.has_room(now=2.9) and w.has_room(now=3.0)  # then 2 s
    w.sent(3, now=3.0)
    assert not w.has_room(now=6.9) and w.has_room(now=7.0)  # then 4 s
    w.sent(4, now=7.0)
    assert not w.has_room(now=10.9) and w.has_room(now=11.0)  # and no more than 4x
    w.sent(5, now=11.0)
    assert w.acknowledge(5) == 1 and w.current_timeout_s == 1.0
    w.sent(6, now=12.0)
    assert w.has_room(now=13.0) and w.expired == 5
    w.sent(7, now=13.0)
    w.reset()
    assert w.current_timeout_s == 1.0 and w.has_room(now=13.0)


def test_window_pipelines_only_while_the_link_is_quick() -> None:
    # Two frames may be in flight, but the second goes out behind the first only while frames
    # cross quickly: on a link slowed to a trickle it would only wait behind the first.
    w = InFlightWindow(2, timeout_s=10.0, slow_s=0.4)
    w.sent(1, now=0.0)
    assert w.has_room(now=0.1)  # nothing measured yet, the frame in flight is young
    w.sent(2, now=0.1)
    assert not w.has_room(now=0.2)  # full
    # frame 1 crossed in 0.25 s, of which the cloud took 0.15 s: quick
    w.acknowledge(1, server_s=0.15, now=0.25)
    assert w.last_crossing_s == pytest.approx(0.1) and w.has_room(now=0.3)
    # ... but frame 2 has been out longer than slow_s plus the cloud's last processing time
    assert not w.has_room(now=0.66) and w.held_slow == 1
    # it crossed in 1.2 s (a busy cloud does not count: 0.1 s of it was processing): slow
    w.acknowledge(2, server_s=0.1, now=1.4)
    assert w.last_crossing_s == pytest.approx(1.2)
    assert w.has_room(now=1.5)  # nothing in flight: a frame may always go
    w.sent(3, now=1.5)
    assert not w.has_room(now=1.6)  # one in flight on a slow link: hold the second
    w.acknowledge(3, server_s=0.1, now=1.75)  # a quick crossing again ...
    w.sent(4, now=1.8)
    assert not w.has_room(now=1.9)  # ... but trickles recur: slow_memory_s (5 s) after the slow one
    w.acknowledge(4, server_s=0.1, now=1.95)
    w.sent(5, now=6.3)
    assert not w.has_room(now=6.35) and w.has_room(now=6.45)  # the slow crossing was acked at 1.4
    # an expired frame's late acknowledgement still measures the link
    w.configure(2, 0.5)
    assert w.slow_s == 0.4  # configure() without slow_s keeps it
    assert w.has_room(now=7.0) and w.expired == 1
    w.acknowledge(5, now=7.2)
    assert w.last_crossing_s == pytest.approx(0.9)
    # slow_s 0: a count window only
    w.configure(2, 10.0, 0.0)
    w.sent(6, now=8.0)
    assert w.has_room(now=9.0)
    with pytest.raises(ValueError):
        w.configure(2, 1.0, -0.1)


def test_window_ignores_a_bogus_cloud_time() -> None:
    # Feedback.server_ms comes off the wire: a negative or NaN time counts as none, and one
    # longer than the round trip is cut to it, so the frame in flight still ages out.
    for bogus, crossing in ((-5.0, 2.0), (float("nan"), 2.0), (float("inf"), 0.0), (1e9, 0.0)):
        w = InFlightWindow(2, timeout_s=10.0, slow_s=0.4)
        w.sent(1, now=0.0)
        w.acknowledge(1, server_s=bogus, now=2.0)
        assert w.last_crossing_s == crossing
        w.sent(2, now=2.1)
        assert not w.has_room(now=2.1 + 0.4 + 2.0 + 0.1)  # out longer than slow_s + at most 2 s


def test_window_wait_for_room_sees_a_slow_link() -> None:
    w = InFlightWindow(2, timeout_s=5.0, slow_s=0.05)
    w.sent(1, now=time.monotonic() - 1.0)  # out for a second already: the link is slow
    assert not w.wait_for_room(timeout=0.05)  # room in the count, but not on this link
    done = threading.Timer(0.1, lambda: w.acknowledge(1, server_s=0.98))
    t0 = time.monotonic()  # before the timer starts: a stalled test thread cannot shorten it
    done.start()
    assert w.wait_for_room(timeout=2.0)  # woken by the acknowledgement
    assert 0.09 < time.monotonic() - t0 < 1.5
    done.join()


def test_window_expiry_and_wait() -> None:
    w = InFlightWindow(1, timeout_s=1.0)  # long next to a stall of a loaded test machine
    t0 = time.monotonic()
    w.sent(7, now=t0)
    assert not w.has_room()
    assert w.wait_for_room(timeout=5.0)
    assert 0.99 < time.monotonic() - t0 < 4.0
    assert w.expired == 1
    w.sent(8)
    assert not w.wait_for_room(timeout=0.05)  # no ack, no expiry yet
    w.configure(0, 0.2)
    assert w.has_room()  # 0 = unlimited
    with pytest.raises(ValueError):
        w.configure(-1, 1.0)


def test_a_message_over_the_size_limit_is_dropped_and_the_link_goes_on() -> None:
    """Real zenoh sessions on loopback, configured by build_config: the router refuses a
    message over max_message_bytes (zenoh's own default is 1 GiB) and keeps the link."""
    import zenoh

    from cloudseg_ros.bridge.session import ZenohSettings, build_config
    from cloudseg_ros.demo.observer import free_port, wait_until

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    router = zenoh.open(
        build_config(ZenohSettings(mode="router", listen=[endpoint], max_message_bytes=1 << 20))
    )
    client = zenoh.open(build_config(ZenohSettings(mode="client", connect=[endpoint])))
    got: list[tuple[str, int]] = []
    try:
        sub = router.declare_subscriber(
            "car1/**", lambda s: got.append((str(s.key_expr), len(s.payload.to_bytes())))
        )
        assert wait_until(lambda: (client.put("car1/probe", b"p"), bool(got))[1], 10)  # linked
        uplink_pub = client.declare_publisher(  # blocking: a loss would be ours, not the limit's
            "car1/cloudseg/uplink", congestion_control=zenoh.CongestionControl.BLOCK
        )
        for size in (1000, 2_000_000, 1000):
            uplink_pub.put(b"x" * size)
            time.sleep(0.3)
        uplink = lambda: [n for key, n in got if key == "car1/cloudseg/uplink"]  # noqa: E731
        assert wait_until(lambda: uplink() == [1000, 1000], 10), got
        sub.undeclare()
    finally:
        client.close()
        router.close()
