"""argparse types for the CLI's numbers: a value argparse would take but the command cannot use
(``nan``, ``inf``, a negative duration, zero threads) is refused at parse time with one line,
instead of failing later with a traceback, after the graph has started."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

MAX_ROS_DOMAIN = 232  # the largest ROS_DOMAIN_ID Fast DDS's default ports allow on Linux
# Inference engines by name (cloudseg_ros.engines.ENGINE_KINDS; not imported: the CLI starts
# without torch and ONNX Runtime).
ENGINES = ("auto", "tensorrt", "onnxruntime", "torch")
# Camera frame sizes the commands render or run (`demo --hr-size`, `synth --width/--height`): the
# cloud node's default max_width/max_height, so what the demo renders the cloud also accepts.
MIN_FRAME_SIZE = (64, 32)
MAX_FRAME_SIDE = 4096


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


def env_ros_domain(environ: Mapping[str, str] | None = None) -> int:
    """``$ROS_DOMAIN_ID`` checked as ``--domain`` is (unset or empty: 0, as ROS takes it): a
    bad value is a ConfigError naming the variable, not a ValueError traceback or a domain
    DDS cannot open."""
    from cloudseg_ros.errors import ConfigError

    text = (os.environ if environ is None else environ).get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return 0
    try:
        return ros_domain(text)
    except argparse.ArgumentTypeError:
        raise ConfigError(
            f"$ROS_DOMAIN_ID={text!r} is not a ROS domain: an integer in 0..{MAX_ROS_DOMAIN} (or pass --domain)"
        ) from None


def frame_size_error(width: int, height: int) -> str | None:
    """Why a ``width`` x ``height`` camera frame is refused, or None: one range for every command
    (a 100000-pixel side would first fail as an allocation of hundreds of GiB)."""
    (lo_w, lo_h), hi = MIN_FRAME_SIZE, MAX_FRAME_SIDE
    if not (lo_w <= width <= hi and lo_h <= height <= hi):
        return f"{width}x{height} out of range ({lo_w}x{lo_h} .. {hi}x{hi})"
    return None


def _not_a_folder(path: Path) -> Path | None:
    """``path`` or its nearest existing ancestor when that is not a folder (writing inside it
    would fail with FileExistsError or NotADirectoryError), else None."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def out_dir(text: str) -> Path:
    """An output folder: it may not exist yet, but no file may stand where it or a folder above
    it would be: refused now, not after the frames were rendered or the graph started."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path is no folder")
    path = Path(text)
    blocker = _not_a_folder(path)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: {blocker} exists and is not a folder")
    return path


def out_file(text: str) -> Path:
    """An output file: not an existing folder, and no file where a folder above it would be."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path is no file")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name")
    blocker = _not_a_folder(path.parent)
    if blocker is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: {blocker} exists and is not a folder")
    return path
