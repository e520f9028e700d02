"""bridge_node: carries the cloudseg topics between ROS and zenoh, robot or cloud side.

Robot mode (node namespace = robot id, e.g. /car1): ``cloudseg/uplink`` from ROS
goes to zenoh key ``car1/cloudseg/uplink``; keys ``car1/cloudseg/{mask,feedback}``
come back to ROS. Cloud mode: every robot's ``*/cloudseg/uplink`` key becomes
``/<robot>/cloudseg/uplink`` in the cloud's ROS domain, and the cloud node's
``/<robot>/cloudseg/{mask,feedback}`` go back. Payloads stay CDR bytes end to end
(never deserialised on the hot path), keys are topic names without the leading
slash: zenoh-bridge-ros2dds can replace either end.

Every hand-over between threads is a bounded newest-wins queue, and the robot side
keeps at most ``max_in_flight`` uplink frames unacknowledged by the cloud.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message

from cloudseg_ros.bridge import keys
from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.bridge.queue import LatestQueue
from cloudseg_ros.bridge.session import LinkSession, ZenohSettings
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.msg import EncodedFrame, Feedback, SegmentationMask
from cloudseg_ros.nodes.common import run_node
from cloudseg_ros.nodes.diagnostics import OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.params import Param, ParameterTable

LOCAL_DEPTH = 10  # DDS history depth of the bridge's ROS publishers and subscriptions
LINK_FEEDBACK_FRAME = "bridge"  # header.frame_id of feedback a bridge makes itself
LINK_UP = "link (re)established"  # its error text when the robot's link came (back): all sent is settled
MSG_TYPES = {keys.UPLINK: EncodedFrame, keys.MASK: SegmentationMask, keys.FEEDBACK: Feedback}

PARAMS = (
    Param("mode", "robot", "Which end of the link this bridge is", choices=("robot", "cloud"), read_only=True),
    Param("zenoh_mode", "", "zenoh mode; empty = client on the robot, router on the cloud",
          choices=("", "client", "peer", "router"), read_only=True),
    Param("connect", [""], "zenoh endpoints to connect to, e.g. tcp/10.0.0.5:7447 (robot: the cloud)",
          read_only=True),
    Param("listen", [""], "zenoh endpoints to listen on, e.g. tcp/0.0.0.0:7447 (cloud)", read_only=True),
    Param("zenoh_config_file", "", "Optional zenoh JSON5 config (TLS, access control); fields above override it",
          read_only=True),
    Param("shared_memory", False, "zenoh shared memory; only when both ends share one host and namespace",
          read_only=True),
    Param("max_message_bytes", 32 * 1024 * 1024, "Largest zenoh message accepted from the other side; bigger "
          "ones are dropped by zenoh [bytes]", range=(65536, 1 << 30), read_only=True),
    Param("queue_depth", 2, "Frames buffered per stream and robot before the oldest is dropped", range=(1, 64)),
    Param("max_in_flight", 2, "Robot: uplink frames sent and not yet acknowledged by the cloud (0 = no limit)",
          range=(0, 64)),
    Param("in_flight_timeout_s", 2.0, "Robot: an unacknowledged frame stops counting after this long; doubled "
          "by each expiry without an acknowledgement, up to 4x [s]",
          range=(0.05, 60.0)),
    Param("robot_timeout_s", 30.0, "Cloud: forget a robot silent for this long [s]", range=(1.0, 3600.0)),
    Param("serve", ["**"], "Cloud: robots this cloud serves, as zenoh key expressions over robot ids "
          "(** = all; fleet_a/** or car1 to partition a fleet between clouds)", read_only=True),
)  # fmt: skip


def _strings(values: list[str]) -> list[str]:
    return [v for v in values if v]


ROBOT_QUIET_S = 10.0  # cloud: a robot whose uplink is older than this is not counted as sending
ECHOES_KEPT = 256  # digests of the latest messages a bridge forwarded from ROS (see _came_back)


class RecentPayloads:
    """Digests of the last ``size`` payloads: whether one was seen before."""

    def __init__(self, size: int = ECHOES_KEPT) -> None:
        self._order: deque[bytes] = deque()
        self._set: set[bytes] = set()
        self._size = size

    def seen(self, data: bytes) -> bool:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in self._set:
            return True
        self._order.append(digest)
        self._set.add(digest)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())
        return False


@dataclass
class _Stream:
    """One direction of one stream: a bounded queue and its counters."""

    queue: LatestQueue[bytes]
    forwarded: int = 0
    bytes: int = 0
    malformed: int = 0  # payloads without a CDR encapsulation header: not forwarded
    unsent: int = 0  # taken from the queue while the link was down (no session, or no router)
    last_mono: float = 0.0  # when the last payload arrived (monotonic)

    @property
    def dropped(self) -> int:
        return self.queue.dropped


@dataclass
class _Robot:
    """Cloud side: what the bridge holds for one robot."""

    name: str
    uplink_pub: Any
    subs: list[Any] = field(default_factory=list)
    last_seen: float = field(default_factory=time.monotonic)
    served: bool = False  # the cloud node subscribes to this robot's uplink
    last_seq: int = 0  # sequence number of the last uplink frame forwarded


class BridgeNode(Node):
    def __init__(self) -> None:
        super().__init__("bridge")
        self.params = ParameterTable(self, PARAMS, validate=self._validate, on_change=self._on_change)
        p = self.params
        self.mode = p["mode"]
        # Local DDS hops keep a few more samples than the zenoh-side queues: the bounded,
        # newest-wins policy lives in those queues; here a sample must not be overwritten in a
        # DDS history while a large one (or a busy reader) holds up delivery.
        self._reliable = QoSProfile(depth=LOCAL_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self._zenoh_pubs: dict[str, Any] = {}
        self._zenoh_subs: list[Any] = []  # zenoh undeclares a subscriber once it is garbage
        self._pub_lock = threading.Lock()
        self._stop = threading.Event()
        self._inbound: dict[tuple[str, str], _Stream] = {}  # (robot, stream) zenoh -> ROS
        self._inbound_lock = threading.Lock()
        self._wake = self.create_guard_condition(self._drain_inbound)
        self._echoes = RecentPayloads()
        settings = ZenohSettings(
            mode=p["zenoh_mode"] or ("client" if self.mode == "robot" else "router"),
            connect=_strings(p["connect"]),
            listen=_strings(p["listen"]),
            config_file=p["zenoh_config_file"],
            shared_memory=p["shared_memory"],
            max_message_bytes=p["max_message_bytes"],
        )
        if self.mode == "robot":
            self._setup_robot()
        else:
            self._robots: dict[str, _Robot] = {}
            self.create_timer(1.0, self._forget_silent_robots)
            self.create_timer(0.1, self._check_served)
        self.link = LinkSession(
            settings, on_open=self._on_open, on_link=self._on_link, logger=self.get_logger()
        )
        self.link.start()
        Diagnostics(self, self._diagnostics)
        where = ", ".join(settings.listen or settings.connect) or "scouting"
        self.get_logger().info(f"{self.mode} bridge, zenoh {settings.mode} on {where}")

    # ---------------------------------------------------------------- parameters
    def _validate(self, values: dict[str, Any]) -> str | None:
        if values["mode"] == "robot" and not self.get_namespace().strip("/"):
            return "robot mode needs the robot id as node namespace (e.g. --ros-args -r __ns:=/car1)"
        return keys.check_selectors(values["serve"])

    def _on_change(self, changed: dict[str, Any]) -> None:
        if self.mode == "robot" and ("max_in_flight" in changed or "in_flight_timeout_s" in changed):
            self.window.configure(self.params["max_in_flight"], self.params["in_flight_timeout_s"])
        if "queue_depth" in changed:
            with self._inbound_lock:  # zenoh threads add streams meanwhile
                for stream in self._inbound.values():
                    stream.queue.resize(changed["queue_depth"])
            if self.mode == "robot":
                self.outbound.queue.resize(changed["queue_depth"])

    def _came_back(self, data: bytes, topic: str) -> None:
        """Stop when a message this bridge forwarded comes back to it from ROS: the robot's and
        the cloud's graphs share this ROS domain, and each bridge takes the other's output
        for its input, sending every frame, mask and feedback round the link without end (87
        camera frames made 3750 uplink and 7564 mask forwards in 25 s). Only that loop brings
        the same bytes back (each frame, mask and feedback carries its own stamps); another
        publisher of the topic (a recording played into the domain) is no loop."""
        if self._echoes.seen(data):
            raise ConfigError(
                f"{self.mode} bridge: a message it forwarded came back on {topic}: the robot's and the "
                f"cloud's graphs share this ROS domain ({self.context.get_domain_id()}), and the bridges "
                "would send every message round the link without end. Run the robot and the cloud in "
                "different ROS domains (ROS_DOMAIN_ID) or on different hosts"
            )

    # ---------------------------------------------------------------- robot side
    def _setup_robot(self) -> None:
        ns = self.get_namespace()
        self.robot = keys.validate_robot_id(ns)
        self.window = InFlightWindow(self.params["max_in_flight"], self.params["in_flight_timeout_s"])
        self.outbound = _Stream(LatestQueue(self.params["queue_depth"]))
        self.last_sent_seq = 0
        self.create_subscription(EncodedFrame, keys.UPLINK, self._on_uplink, self._reliable, raw=True)
        self._ros_pubs = {
            stream: self.create_publisher(MSG_TYPES[stream], stream, self._reliable)
            for stream in keys.CLOUD_TO_ROBOT
        }
        self._sender = threading.Thread(target=self._send_uplink, name="uplink-sender", daemon=True)
        self._sender.start()

    def _on_uplink(self, data: bytes) -> None:
        self._came_back(data, keys.UPLINK)
        self.outbound.queue.put(data)

    def _send_uplink(self) -> None:
        key = keys.robot_key(self.robot, keys.UPLINK)
        while not self._stop.is_set():
            if not self.window.wait_for_room(timeout=0.2):
                continue
            data = self.outbound.queue.get(timeout=0.2)
            if data is None:
                continue
            seq = None
            with contextlib.suppress(Exception):  # malformed: not ours to judge, the cloud counts it
                seq = deserialize_message(data, EncodedFrame).seq
                self.last_sent_seq = seq  # settled once taken: delivered, or lost with a down link
            if not self.link.link_up or not self._put(key, data):  # a put with no router goes nowhere
                self.outbound.unsent += 1
                continue
            self.outbound.forwarded += 1
            self.outbound.bytes += len(data)
            if seq is not None:
                self.window.sent(seq)

    # ---------------------------------------------------------------- cloud side
    def _robot_entry(self, robot: str) -> _Robot:
        entry = self._robots.get(robot)
        if entry is None:
            topic = f"/{robot}/{keys.UPLINK}"
            entry = _Robot(robot, self.create_publisher(EncodedFrame, topic, self._reliable))
            for stream in keys.CLOUD_TO_ROBOT:
                key = keys.robot_key(robot, stream)
                entry.subs.append(
                    self.create_subscription(
                        MSG_TYPES[stream],
                        f"/{robot}/{stream}",
                        self._forwarder(key),
                        self._reliable,
                        raw=True,
                    )
                )
            self._robots[robot] = entry
            self.get_logger().info(f"robot {robot!r} appeared")
        entry.last_seen = time.monotonic()
        return entry

    def _forwarder(self, key: str) -> Callable[[bytes], None]:
        def forward(data: bytes) -> None:
            self._came_back(data, key)
            self._put(key, data)

        return forward

    def _forget_silent_robots(self) -> None:
        now = time.monotonic()
        for name, entry in list(self._robots.items()):
            with self._inbound_lock:  # decided and removed at once: zenoh's threads add frames
                inbound = self._inbound.get((name, keys.UPLINK))
                # A frame zenoh just queued (not drained yet) keeps the robot: it has come back.
                arrived = inbound.last_mono if inbound is not None else 0.0
                silent = now - max(entry.last_seen, arrived) > self.params["robot_timeout_s"]
                if silent:
                    self._inbound.pop((name, keys.UPLINK), None)
            if silent:
                for sub in entry.subs:
                    self.destroy_subscription(sub)
                self.destroy_publisher(entry.uplink_pub)
                with self._pub_lock:
                    for stream in keys.CLOUD_TO_ROBOT:
                        pub = self._zenoh_pubs.pop(keys.robot_key(name, stream), None)
                        if pub is not None:
                            pub.undeclare()
                del self._robots[name]
                self.get_logger().info(
                    f"robot {name!r} silent for {self.params['robot_timeout_s']:g} s: forgotten"
                )
        with self._inbound_lock:  # ids that only ever sent what was not CDR never became robots
            for key, stream in list(self._inbound.items()):
                if key[0] not in self._robots and now - stream.last_mono > self.params["robot_timeout_s"]:
                    del self._inbound[key]

    # ---------------------------------------------------------------- zenoh
    def _on_open(self, session: Any) -> None:
        if self.mode == "robot":
            for stream in keys.CLOUD_TO_ROBOT:
                key = keys.robot_key(self.robot, stream)
                self._zenoh_subs.append(
                    session.declare_subscriber(key, self._inbound_handler(self.robot, stream))
                )
        else:
            for robots in _strings(self.params["serve"]):
                selector = keys.robots_selector(keys.UPLINK, robots)
                self._zenoh_subs.append(session.declare_subscriber(selector, self._on_zenoh_uplink))

    def _on_link(self, up: bool) -> None:
        # zenoh counts routers and peers, not clients: for the cloud's router that is another
        # router of the fleet (robots, its clients, show in _robots_sending instead).
        peer = "cloud" if self.mode == "robot" else "a peer router"
        if up:
            self.get_logger().info(f"zenoh link to {peer} is up")
            if self.mode == "robot":
                self._resync_edge()
        else:
            self.get_logger().warn(f"zenoh link to {peer} is down; will resume when it returns")
            if self.mode == "robot":
                self.window.reset()  # nothing sent before the cut will be acknowledged

    def _resync_edge(self) -> None:
        """Tell the edge the link is (back) up, as feedback from the link itself: everything sent
        so far is settled (lost or delivered, no cloud will acknowledge it) and a fresh cloud
        decoder needs a key frame. So the edge sends an IDR at once instead of waiting for its
        in-flight frames to time out and for the cloud to ask. Marked frame_id="bridge" and
        frame_size=0: it carries no delay or throughput sample."""
        fb = Feedback(robot_id=self.robot, last_seq=self.last_sent_seq, request_idr=True, frame_size=0)
        fb.header.stamp = self.get_clock().now().to_msg()
        fb.header.frame_id = LINK_FEEDBACK_FRAME
        fb.error = LINK_UP
        self._enqueue_inbound(self.robot, keys.FEEDBACK, serialize_message(fb))

    def _inbound_handler(self, robot: str, stream: str) -> Callable[[Any], None]:
        def handle(sample: Any) -> None:
            self._enqueue_inbound(robot, stream, sample.payload.to_bytes())

        return handle

    def _on_zenoh_uplink(self, sample: Any) -> None:
        robot = keys.robot_of_key(str(sample.key_expr), keys.UPLINK)
        if robot is None:
            self.get_logger().warn(
                f"ignoring zenoh key {sample.key_expr}: not <robot>/{keys.UPLINK}", once=True
            )
            return
        self._enqueue_inbound(robot, keys.UPLINK, sample.payload.to_bytes())

    def _enqueue_inbound(self, robot: str, stream: str, data: bytes) -> None:
        with self._inbound_lock:
            entry = self._inbound.get((robot, stream))
            if entry is None:
                entry = self._inbound[(robot, stream)] = _Stream(LatestQueue(self.params["queue_depth"]))
            entry.last_mono = time.monotonic()
        if not keys.is_cdr(data):
            # DDS would silently discard it; refuse it here, where it can still be counted.
            entry.malformed += 1
            self.get_logger().warn(
                f"{robot}/{stream}: payload without CDR header dropped", throttle_duration_sec=5.0
            )
            return
        entry.queue.put(data)
        self._wake.trigger()

    def _drain_inbound(self) -> None:
        """Runs in the executor: publish what zenoh delivered (ROS entities stay on one thread)."""
        with self._inbound_lock:
            items = list(self._inbound.items())
        for (robot, stream), entry in items:
            while (data := entry.queue.get_nowait()) is not None:
                if self.mode == "robot":
                    pub = self._ros_pubs[stream]
                    if stream == keys.FEEDBACK:
                        self._acknowledge(data)
                    pub.publish(data)
                else:
                    known = self._robot_entry(robot)
                    known.uplink_pub.publish(data)
                    with contextlib.suppress(Exception):  # malformed: the cloud node counts it
                        known.last_seq = deserialize_message(data, EncodedFrame).seq
                entry.forwarded += 1
                entry.bytes += len(data)

    def _check_served(self) -> None:
        """When the cloud node starts listening to a robot, ask that robot for a key frame.

        Frames forwarded before the cloud node subscribed (a new robot, or a restarted cloud)
        are gone: its decoder would refuse inter frames until the robot happened to send an
        IDR, and the robot would sit on unacknowledged frames until they time out. The request
        is a Feedback from the link itself (frame_id "bridge", frame_size 0: no delay or
        throughput sample) that also acknowledges everything forwarded so far."""
        for robot, entry in self._robots.items():
            if entry.uplink_pub.get_subscription_count() == 0:
                entry.served = False  # the cloud node went away (crashed, restarting): ask again
                continue
            if entry.served:
                continue
            entry.served = True
            fb = Feedback(robot_id=robot, last_seq=entry.last_seq, request_idr=True, frame_size=0)
            fb.header.stamp = self.get_clock().now().to_msg()
            fb.header.frame_id = LINK_FEEDBACK_FRAME
            fb.error = "cloud (re)subscribed"
            self._put(keys.robot_key(robot, keys.FEEDBACK), serialize_message(fb))
            self.get_logger().info(f"cloud node serves robot {robot!r}: asked it for a key frame")

    def _acknowledge(self, data: bytes) -> None:
        try:
            self.window.acknowledge(deserialize_message(data, Feedback).last_seq)
        except Exception as exc:
            self.get_logger().warn(f"undecodable feedback from the cloud: {exc}", throttle_duration_sec=5.0)

    def _put(self, key: str, data: bytes) -> bool:
        session = self.link.session
        if session is None:
            return False
        with self._pub_lock:
            pub = self._zenoh_pubs.get(key)
            if pub is None:
                import zenoh

                pub = self._zenoh_pubs[key] = session.declare_publisher(
                    key, congestion_control=zenoh.CongestionControl.BLOCK, express=True
                )
        try:
            pub.put(data)
        except Exception as exc:
            self.get_logger().warn(f"zenoh put on {key} failed: {exc}", throttle_duration_sec=5.0)
            return False
        return True

    # ---------------------------------------------------------------- stats / shutdown
    def _robots_sending(self, within_s: float = ROBOT_QUIET_S) -> list[str]:
        """Cloud: the robots whose uplink arrived in the last ``within_s`` seconds."""
        now = time.monotonic()
        with self._inbound_lock:
            return sorted(
                robot for (robot, stream), e in self._inbound.items()
                if stream == keys.UPLINK and now - e.last_mono < within_s
            )  # fmt: skip

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"link_up": self.link.link_up}
        if self.mode == "robot":
            out.update(
                uplink_forwarded=self.outbound.forwarded,
                uplink_bytes=self.outbound.bytes,
                uplink_dropped=self.outbound.dropped,
                uplink_unsent=self.outbound.unsent,
                in_flight=self.window.in_flight(),
            )
        with self._inbound_lock:
            streams = list(self._inbound.items())
        for (robot, stream), entry in streams:
            out[f"{robot}/{stream}"] = {
                "forwarded": entry.forwarded,
                "dropped": entry.dropped,
                "malformed": entry.malformed,
            }
        return out

    def _diagnostics(self) -> list[Status]:
        stats = self.stats()
        dropped = sum(v["dropped"] for v in stats.values() if isinstance(v, dict)) + stats.get(
            "uplink_dropped", 0
        )
        if self.mode == "cloud":
            # The cloud's router sees its robots as clients, which zenoh does not count as a
            # link: what tells whether it serves anyone is their uplinks arriving.
            sending = self._robots_sending()
            stats["robots_sending"] = len(sending)
            if dropped:
                level, message = WARN, f"{dropped} messages dropped (queues full)"
            elif self.link.session is None:
                level, message = WARN, "zenoh session not open yet"
            else:
                level, message = OK, (
                    f"{len(sending)} robot(s) sending: {', '.join(sending)}" if sending
                    else f"waiting for robots (none sent in the last {ROBOT_QUIET_S:g} s)"
                )  # fmt: skip
        elif not self.link.link_up:
            level, message = WARN, "zenoh link down" if self.link.session else "cloud not reachable yet"
        else:
            level, message = (
                (WARN, f"{dropped} messages dropped (queues full)") if dropped else (OK, "link up")
            )
        flat = {k: v for k, v in stats.items() if not isinstance(v, dict)}
        for name, v in stats.items():
            if isinstance(v, dict):
                flat.update({f"{name} {counter}": count for counter, count in v.items()})
        return [Status("link", level, message, flat)]

    def destroy_node(self) -> None:
        if hasattr(self, "link"):  # also called on a node whose constructor failed
            self._stop.set()
            self.link.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(BridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
