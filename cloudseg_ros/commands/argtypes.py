"""argparse types for the CLI's numbers: a value argparse would take but the command cannot use
(``nan``, ``inf``, a negative duration, zero threads) is refused at parse time with one line,
instead of failing later with a traceback, after the graph has started."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

MAX_ROS_DOMAIN = 232  # the largest ROS_DOMAIN_ID Fast DDS's default ports allow on Linux
# Inference engines by name (cloudseg_ros.engines.ENGINE_KINDS; not imported: the CLI starts
# without torch and ONNX Runtime).
ENGINES = ("auto", "tensorrt", "onnxruntime", "torch")


def finite(text: str) -> float:
    """A finite float (``nan`` and ``inf`` parse as floats but are no duration or rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def node_param(node: str, name: str) -> Callable[[str], int | float | str]:
    """A value for parameter ``name`` of ``<node>_node`` as that node declares it (type, range,
    choices): refused at parse time, not by the node seconds after the graph started. The
    node module is imported only when the option is given."""

    def parse(text: str) -> int | float | str:
        import importlib

        spec = {p.name: p for p in importlib.import_module(f"cloudseg_ros.nodes.{node}_node").PARAMS}[name]
        kind = type(spec.default)
        value = integer(text) if kind is int else finite(text) if kind is float else text
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            raise argparse.ArgumentTypeError(f"{text!r}: must be in {spec.range[0]}..{spec.range[1]}")
        reason = spec.check(value)
        if reason:
            raise argparse.ArgumentTypeError(reason)
        return value

    return parse


def seed(text: str) -> int:
    """A seed numpy takes (0 .. 2**32 - 1)."""
    value = integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r}: must be in 0 .. {2**32 - 1}")
    return value


def scene_seed(text: str) -> int:
    """A seed of the embedded scene, in the camera node's range (0 .. 2**31 - 1): the scene
    takes any integer modulo 2**64, so -1 would silently be the scene of 2**64 - 1."""
    return node_param("camera", "seed")(text)  # type: ignore[return-value]


def folder_name(text: str) -> str:
    """One path component: not empty, no separator, not '.' or '..'."""
    if not text or "/" in text or "\\" in text or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} is no folder name")
    return text


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _bounded(
    parse: Callable[[str], float], low: float, what: str, strict: bool = False
) -> Callable[[str], float]:
    """``parse``, then ``low <= value`` (``<`` when ``strict``); ``what`` says the bound in the error."""

    def check(text: str) -> float:
        value = parse(text)
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {what}")
        return value

    check.__name__ = what.replace(" ", "_")  # argparse names the type in its errors
    return check


positive = _bounded(finite, 0.0, "> 0", strict=True)
non_negative = _bounded(finite, 0.0, ">= 0")
positive_int = _bounded(integer, 1, ">= 1")


def ros_domain(text: str) -> int:
    value = integer(text)
    if not 0 <= value <= MAX_ROS_DOMAIN:
        raise argparse.ArgumentTypeError(f"ROS domain {value} out of range 0..{MAX_ROS_DOMAIN}")
    return value
