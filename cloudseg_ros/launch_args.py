"""What the launch files' arguments change in the nodes' parameters: only what was given.

An argument left empty keeps the value of the parameters file (``params_file:=...``). With
defaults of their own, ``source``, ``uri``, ``cloud`` and ``listen`` overrode a user's file
every time: ``params_file:=mine.yaml`` with ``source: v4l2`` and a TLS ``connect`` ran the
synthetic scene against localhost. No ROS import: the launch files call this, tests too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def endpoints(text: str) -> list[str]:
    """``tcp/a:7447, tls/b:7447`` -> a list of zenoh endpoints."""
    return [e.strip() for e in text.split(",") if e.strip()]


def robot_overrides(args: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per-node parameters of ``robot.launch.py`` from its (non-empty) arguments."""
    bridge: dict[str, Any] = {}
    if args.get("cloud", "").strip():
        bridge["connect"] = endpoints(args["cloud"])
    if args.get("zenoh_config_file"):
        bridge["zenoh_config_file"] = args["zenoh_config_file"]
    camera = {key: args[key] for key in ("source", "uri") if args.get(key)}
    return {"bridge": bridge, "camera": camera}


def cloud_overrides(args: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per-node parameters of ``cloud.launch.py`` from its (non-empty) arguments."""
    bridge: dict[str, Any] = {}
    if args.get("listen", "").strip():
        bridge["listen"] = endpoints(args["listen"])
    if args.get("zenoh_config_file"):
        bridge["zenoh_config_file"] = args["zenoh_config_file"]
    cloud = {key: args[key] for key in ("engine", "sr_model") if args.get(key)}
    return {"bridge": bridge, "cloud": cloud}
