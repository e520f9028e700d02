"""A real rclpy node in a chosen ROS domain, spun in a background thread.

The demo's recorder and the tests use it to listen to and publish into node graphs
running as separate processes (robot and cloud in different ROS domains), exactly
as any other ROS node would. Several can live in one process, one per domain.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
SENSOR = qos_profile_sensor_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class DomainNode:
    """A node in ``domain_id`` that records what arrives on the topics it listens to."""

    def __init__(self, domain_id: int, name: str = "observer") -> None:
        from cloudseg_ros.demo.processes import DDS_PROFILE_VAR
        from cloudseg_ros.paths import config_file

        os.environ.setdefault(DDS_PROFILE_VAR, str(config_file("fastdds.xml")))  # same DDS as the nodes
        self.context = rclpy.Context()
        # No rclpy signal handlers: Ctrl-C must reach the owner (the demo cleans up its graph).
        rclpy.init(context=self.context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down under us
                return

    def listen(
        self,
        msg_type: Any,
        topic: str,
        qos: QoSProfile = RELIABLE,
        raw: bool = False,
        callback: Callable[..., None] | None = None,
        keep: int = 10_000,
        arrival: bool = False,
    ) -> None:
        """Record what arrives on ``topic`` (the last ``keep`` messages), or hand it to ``callback``.

        ``arrival``: the callback also gets the wall-clock time [s] the middleware received the
        message (its receive thread's stamp): unlike a clock read in the callback, it does not
        lag behind whatever else this process's Python threads are doing."""

        def store(msg: Any, info: Any) -> None:  # two parameters: rclpy passes the message info too
            if callback is not None:
                if arrival:
                    stamp = info.get("received_timestamp", 0)
                    callback(msg, stamp * 1e-9 if stamp > 0 else time.time())
                else:
                    callback(msg)
                return
            with self._lock:
                box = self.received[topic]
                box.append(msg)
                if len(box) > keep:
                    del box[: len(box) - keep]

        self.node.create_subscription(msg_type, topic, store, qos, raw=raw)

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile = RELIABLE) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return list(self.received[topic])

    def wait_for(self, topic: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
        wait_until(lambda: len(self.messages(topic)) >= count, timeout)
        return self.messages(topic)

    def topics(self) -> set[str]:
        return {name for name, _ in self.node.get_topic_names_and_types()}

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)
