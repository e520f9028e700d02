"""Several robots and several clouds, with real node processes over zenoh on loopback.

Verifies: a fleet split between two cloud graphs by key-space partition (the first cloud
is the zenoh router robots connect to and serves car1; the second joins it as a client and
serves car2) gives each robot its masks from its own cloud only; a slow consumer of the
robot's mask topic does not slow the mask node down (publishing stays non-blocking).
Throughput scaling with fleet size is measured by bench/fleet.py.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import time

from cloudseg_ros.demo.graph import cloud_specs, robot_specs
from cloudseg_ros.demo.observer import RELIABLE, DomainNode, free_port, wait_until
from cloudseg_ros.demo.processes import ProcessGroup, ros_env
from cloudseg_ros.msg import MaskInfo

from graphs import Graph

SMALL = {"width": 256, "height": 128, "fps": 5.0}  # two robots and two clouds share 2 cores


def fresh(node: DomainNode, robot: str) -> list[MaskInfo]:
    return [m for m in node.messages(f"/{robot}/segmentation/info") if not m.stale]


def test_fleet_partitioned_between_two_clouds() -> None:
    robot_domain, cloud_a, cloud_b = random.sample(range(1, 232), 3)
    port = free_port()
    front = f"tcp/127.0.0.1:{port}"
    group = ProcessGroup()
    robots = DomainNode(robot_domain, "fleet_robot_observer")
    try:
        # Cloud A: the router the fleet connects to; serves car1 only.
        for spec in cloud_specs(
            cloud_a, front, {"bridge": {"serve": ["car1"]}, "cloud": {"serve": ["car1"]}}
        ):
            group.start(spec, f"cloudA.{spec.name}")
        # Cloud B: another box behind A, a zenoh client of A; serves car2 only.
        overrides = {
            "bridge": {"zenoh_mode": "client", "listen": [""], "connect": [front], "serve": ["car2"]}
        }
        for spec in cloud_specs(cloud_b, front, overrides):
            group.start(spec, f"cloudB.{spec.name}")
        for i, robot in enumerate(("car1", "car2")):
            for spec in robot_specs(robot, robot_domain, front, {"camera": {**SMALL, "seed": i}}):
                group.start(spec)
            robots.listen(MaskInfo, f"/{robot}/segmentation/info", RELIABLE)
        assert wait_until(lambda: len(fresh(robots, "car1")) >= 5 and len(fresh(robots, "car2")) >= 5, 120), {
            label: group.log_text(label)[-800:] for label in group.procs
        }
        log_a, log_b = group.log_text("cloudA.cloud"), group.log_text("cloudB.cloud")
        assert "serving robot 'car1'" in log_a and "car2" not in log_a
        assert "serving robot 'car2'" in log_b and "car1" not in log_b
        assert not group.failed()
    finally:
        robots.close()
        group.close()


SLOW_CONSUMER = textwrap.dedent(
    """
    import sys, time, rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node("slow_consumer")
    node.create_subscription(Image, sys.argv[1], lambda m: time.sleep(2.0),
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    rclpy.spin(node)
    """
)


def test_slow_consumer_does_not_block_mask_publishing() -> None:
    g = Graph(camera={**SMALL, "fps": 8.0})
    consumers = []
    try:
        g.wait_served(count=5)

        def rate(seconds: float) -> float:
            start = len(g.robot.messages("/car1/segmentation/info"))
            time.sleep(seconds)
            return (len(g.robot.messages("/car1/segmentation/info")) - start) / seconds

        before = rate(6.0)
        topics = ("/car1/segmentation/mask", "/car1/segmentation/overlay", "/car1/segmentation/color")
        subscribers = {t: g.robot.node.count_subscribers(t) for t in topics}
        for topic in topics:
            consumers.append(
                subprocess.Popen([sys.executable, "-c", SLOW_CONSUMER, topic], env=ros_env(g.robot_domain))
            )
        # Every consumer subscribed (three Python processes start slowly on a loaded machine),
        # then a few seconds for their queues to fill and their start-up CPU to pass.
        assert wait_until(
            lambda: all(g.robot.node.count_subscribers(t) > n for t, n in subscribers.items()), 60
        )
        time.sleep(3.0)
        during = rate(6.0)
        assert all(c.poll() is None for c in consumers)
        assert before > 3.0, f"mask stream too slow to judge ({before:.1f}/s)"
        # Blocked publishing would stall the stream (2 s per message); the consumers' own CPU may
        # take some of 2 cores.
        assert during > 0.6 * before, f"mask publishing slowed from {before:.1f}/s to {during:.1f}/s"
        assert not g.group.failed()
    finally:
        for c in consumers:
            c.kill()
            c.wait()
        g.close()
