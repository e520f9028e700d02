"""What every node executable shares: start-up, spinning, and a clean exit.

A node that cannot start (a missing camera file, a parameter out of range, a bad
model file) logs one clear line naming the cause and exits with status 2, instead
of a traceback. SIGINT and SIGTERM end the spin and destroy the node, so launch
and the demo can stop a graph without leaving anything behind; a second SIGINT while
the node cleans up (closing a zenoh session over a dead link can take seconds) ends the
cleanup without a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from cloudseg_ros.errors import CloudsegError


def run_node(factory: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> int:
    """Create the node with ``factory`` and spin it until shutdown; returns the exit status."""
    rclpy.init(args=args if args is not None else sys.argv)
    node: Node | None = None
    status = 0
    try:
        node = factory()
        executor = SingleThreadedExecutor() if threads <= 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except CloudsegError as exc:
        name = getattr(factory, "__name__", "node").removesuffix("Node").lower()
        print(f"[{name}] error: {exc}", file=sys.stderr, flush=True)
        status = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # Ctrl-C shuts the context down under a running executor; a take in flight then fails
        # inside rclpy ("Unable to convert call argument ..."): that is the shutdown, not a fault.
        if rclpy.ok():
            raise
    finally:
        try:
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        except KeyboardInterrupt:  # a second Ctrl-C while cleaning up: leave now, without a traceback
            pass
    return status


class CheckedSubscription:
    """A subscription that deserialises itself, so that a malformed CDR payload (a hostile or
    broken peer behind the bridge) is counted and reported instead of raising inside the
    executor and taking the node down."""

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topic: str,
        callback: Callable[[object], None],
        qos: object,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        from rclpy.serialization import deserialize_message

        self.malformed = 0
        self._deserialize = deserialize_message
        self._type, self._callback, self._on_error, self.topic = msg_type, callback, on_error, topic
        self.subscription = node.create_subscription(msg_type, topic, self._receive, qos, raw=True)

    def _receive(self, data: bytes) -> None:
        try:
            msg = self._deserialize(data, self._type)
        except Exception as exc:  # rclpy raises various types for bad CDR
            self.malformed += 1
            if self._on_error:
                self._on_error(f"malformed {self._type.__name__} on {self.topic} ({len(data)} bytes): {exc}")
            return
        self._callback(msg)
