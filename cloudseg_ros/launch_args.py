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
    return {"bridge": _bridge(args, "cloud", "connect"), "camera": _given(args, ("source", "uri"))}


def cloud_overrides(args: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per-node parameters of ``cloud.launch.py`` from its (non-empty) arguments."""
    return {"bridge": _bridge(args, "listen", "listen"), "cloud": _given(args, ("engine", "sr_model"))}


def _bridge(args: Mapping[str, str], argument: str, parameter: str) -> dict[str, Any]:
    """The bridge's endpoints (``argument`` -> ``parameter``) and zenoh config file, if given."""
    bridge: dict[str, Any] = {}
    if args.get(argument, "").strip():
        bridge[parameter] = endpoints(args[argument])
    return {**bridge, **_given(args, ("zenoh_config_file",))}


def _given(args: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: args[name] for name in names if args.get(name)}
