"""Periodic diagnostic_msgs/DiagnosticArray on /diagnostics, from a node's own counters.

Each node hands in a function returning its status entries; levels follow
diagnostic_msgs: OK, WARN (degraded but serving: drops, stale masks, link down),
ERROR (not serving: no engine, no camera).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass
class Status:
    """One entry: a name under the node, a level, a one-line message and key/values."""

    name: str
    level: bytes  # OK, WARN or ERROR
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)


class Diagnostics:
    def __init__(self, node: Node, collect: Callable[[], list[Status]], period_s: float = 1.0) -> None:
        self._node = node
        self._collect = collect
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._prefix = node.get_fully_qualified_name().lstrip("/")
        node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        for status in self._collect():
            entry = DiagnosticStatus(
                level=status.level,
                name=f"{self._prefix}: {status.name}",
                message=status.message,
                hardware_id=self._prefix,
            )
            entry.values = [KeyValue(key=str(k), value=str(v)) for k, v in status.values.items()]
            msg.status.append(entry)
        self._pub.publish(msg)
