"""What the launch files' arguments change in the nodes' parameters: only what was given.

An argument left empty keeps the value of the parameters file (``params_file:=...``). With
defaults of their own, ``source``, ``uri``, ``cloud`` and ``listen`` overrode a user's file
every time: ``params_file:=mine.yaml`` with ``source: v4l2`` and a TLS ``connect`` ran the
synthetic scene against localhost. No ROS import: the launch files call this, tests too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cloudseg_ros.errors import ConfigError

DDS_PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def endpoints(text: str) -> list[str]:
    """``tcp/a:7447, tls/b:7447`` -> a list of zenoh endpoints."""
    return [e.strip() for e in text.split(",") if e.strip()]


def robot_overrides(args: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Per-node parameters of ``robot.launch.py`` from its (non-empty) arguments."""
    camera: dict[str, Any] = _given(args, ("source", "uri"))
    for side in ("width", "height"):
        if args.get(side, "").strip():
            camera[side] = _size(side, args[side])
    return {"bridge": _bridge(args, "cloud", "connect"), "camera": camera}


def flag(name: str, text: str) -> bool:
    """A switch argument: true/false (1/0, yes/no, on/off). Anything else is refused: a typo
    (``controller:=ture``) read as false would run without what was asked for, silently."""
    value = text.strip().lower()
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise ConfigError(f"launch argument {name}:={text!r}: expected true or false")


def check_params_file(path: str) -> str:
    """launch_ros only warns about a params file that is not there and starts the nodes on
    their code defaults, which look healthy (a synthetic camera, a cloud on localhost)."""
    if not os.path.isfile(path):
        raise ConfigError(f"launch argument params_file:={path}: no such file")
    return path


def image_remaps(image_topic: str) -> list[tuple[str, str]]:
    """Remappings that make the edge and the mask node read the robot's own camera topic."""
    topic = image_topic.strip()
    return [("camera/image_raw", topic)] if topic else []


def dds_env(choice: str, environment: Mapping[str, str], shipped: str) -> dict[str, str]:
    """Environment of each node for its DDS profile (``dds_profile`` launch argument).

    Empty: the shipped profile (shared memory big enough for camera images, this host only)
    unless the user already set ``FASTDDS_DEFAULT_PROFILES_FILE``; ``none``: leave DDS as the
    user's environment has it (a driving stack on another computer of the robot); a path:
    that profile. Set per node, not for the whole launch: a launch file including this one
    would otherwise hand the loopback-only profile to its own nodes too."""
    choice = choice.strip()
    if choice.lower() == "none":
        return {}
    if choice:
        if not os.path.isfile(choice):
            raise ConfigError(f"launch argument dds_profile:={choice}: no such file")
        return {DDS_PROFILE_VAR: choice}
    return {} if environment.get(DDS_PROFILE_VAR) else {DDS_PROFILE_VAR: shipped}


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


def _size(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:  # the camera node checks its range
        raise ConfigError(f"launch argument {name}:={text!r}: expected pixels, 0 = the source's own")
    return value
