"""The robot graph and the cloud graph as lists of node processes.

The same composition as launch/robot.launch.py and launch/cloud.launch.py (one
process per node, parameters from config/robot.yaml and config/cloud.yaml), with
per-run overrides on top: the demo, the network experiments and the tests all
start the real node graph through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudseg_ros.demo.processes import NodeSpec
from cloudseg_ros.paths import config_file

ROBOT_NODES = (
    ("camera_node", "camera"),
    ("edge_node", "edge"),
    ("bridge_node", "bridge"),
    ("mask_node", "mask"),
    ("controller_node", "controller"),
)
CLOUD_NODES = (("bridge_node", "bridge"), ("cloud_node", "cloud"))


def robot_specs(
    robot_id: str,
    domain_id: int,
    cloud_endpoint: str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    nodes: tuple[str, ...] = ("camera", "edge", "bridge", "mask"),
) -> list[NodeSpec]:
    """Node processes of one robot (namespace ``robot_id``) connecting to ``cloud_endpoint``."""
    overrides = overrides or {}
    base = {"bridge": {"connect": [cloud_endpoint]}}
    files = (config_file("robot.yaml"),)
    return [
        NodeSpec(
            exe,
            name,
            domain_id,
            robot_id,
            files,
            {**base.get(name, {}), **overrides.get(name, {})},
            env or {},
        )
        for exe, name in ROBOT_NODES
        if name in nodes
    ]


def cloud_specs(
    domain_id: int,
    listen_endpoint: str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[NodeSpec]:
    """Node processes of the cloud, listening for robots on ``listen_endpoint``."""
    overrides = overrides or {}
    base = {"bridge": {"listen": [listen_endpoint]}}
    files = (config_file("cloud.yaml"),)
    return [
        NodeSpec(
            exe, name, domain_id, "", files, {**base.get(name, {}), **overrides.get(name, {})}, env or {}
        )
        for exe, name in CLOUD_NODES
    ]
