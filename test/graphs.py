"""Test helper: a cloud graph and robot graphs as real processes, with an observer per domain.

The graph tests (graph, fuzz, security, fleet, controller) all start the node executables
the way `cloudseg demo` and the launch files do, in random ROS domains so that other graphs
on the same host cannot cross-talk, and fail with every node's last log lines when the
graph does not come up.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from cloudseg_ros.demo.graph import cloud_specs, robot_specs
from cloudseg_ros.demo.observer import RELIABLE, DomainNode, free_port, wait_until
from cloudseg_ros.demo.processes import ProcessGroup
from cloudseg_ros.msg import MaskInfo

SMALL = {"width": 256, "height": 128, "fps": 10.0}


def random_domains(count: int = 2) -> list[int]:
    return random.sample(range(1, 232), count)


def status_values(node: DomainNode, name_part: str) -> dict[str, str]:
    """The newest diagnostics values of the status whose name contains ``name_part``."""
    for msg in reversed(node.messages("/diagnostics")):
        for st in msg.status:
            if name_part in st.name:
                return {kv.key: kv.value for kv in st.values}
    return {}


class Graph:
    """One cloud graph and one robot graph per robot id, linked by zenoh on loopback."""

    def __init__(
        self,
        robots: tuple[str, ...] = ("car1",),
        start_cloud: bool = True,
        camera: Mapping[str, Any] = SMALL,
        robot_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        cloud_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.robot_domain, self.cloud_domain = random_domains()
        self.endpoint = endpoint or f"tcp/127.0.0.1:{free_port()}"
        self.cloud_overrides = dict(cloud_overrides or {})
        self.group = ProcessGroup()
        self.robots = robots
        if start_cloud:
            self.start_cloud()
        for i, robot in enumerate(robots):
            overrides = {k: dict(v) for k, v in (robot_overrides or {}).items()}
            overrides["camera"] = {"seed": i, **camera, **overrides.get("camera", {})}
            for spec in robot_specs(robot, self.robot_domain, self.endpoint, overrides):
                self.group.start(spec)
        self.robot = DomainNode(self.robot_domain, "test_robot_observer")
        self.cloud = DomainNode(self.cloud_domain, "test_cloud_observer")
        for robot in robots:
            self.robot.listen(MaskInfo, f"/{robot}/segmentation/info", RELIABLE)

    def start_cloud(self) -> None:
        for spec in cloud_specs(self.cloud_domain, self.endpoint, self.cloud_overrides):
            self.group.start(spec, f"cloud.{spec.name}")

    def stop_cloud(self) -> None:
        for label in ("cloud.bridge", "cloud.cloud"):
            self.group.stop_one(label)

    def fresh(self, robot: str = "car1") -> list[MaskInfo]:
        """Info of every fresh (not stale) mask the robot's mask node published so far."""
        return [m for m in self.robot.messages(f"/{robot}/segmentation/info") if not m.stale]

    def wait_served(self, count: int = 3, timeout: float = 90.0) -> None:
        """Wait for ``count`` fresh masks on every robot, else fail with the nodes' logs."""
        if not wait_until(lambda: all(len(self.fresh(r)) >= count for r in self.robots), timeout):
            self.fail("the graph served no masks")

    def fail(self, what: str) -> None:
        """Stop everything and fail the test with each node's last log lines."""
        logs = {label: self.group.log_text(label)[-1200:] for label in self.group.procs}
        self.close()
        pytest.fail(f"{what}:\n" + json.dumps(logs, indent=1))

    def close(self) -> None:
        self.robot.close()
        self.cloud.close()
        self.group.close()
