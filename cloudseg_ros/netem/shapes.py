"""Synthetic link shapes: what the cellular traces in a repository do not cover.

The controller is designed on a handful of recorded traces; a robot meets others. These
shapes are the textbook cases a rate controller must get right, named by what they do:
constant links from a trickle to plenty, a step down and a step up, square waves (fast and
slow), periodic outages and a ramp. ``cloudseg netem --trace shape:NAME`` runs the real
experiment on one, ``bench/controller_replay.py --shapes`` replays the controller on all.
"""

from __future__ import annotations

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.netem.trace import Trace

PREFIX = "shape:"

Segments = list[tuple[float, float]]  # (seconds, kbps)


def _square(high: float, low: float, half_s: float, period_s: float = 60.0) -> Segments:
    return [(half_s, high), (half_s, low)] * max(1, round(period_s / (2 * half_s)))


def _triangle(low: float, high: float, period_s: float = 60.0, step_s: float = 1.0) -> Segments:
    half = round(period_s / step_s / 2)
    up = [low + (high - low) * i / half for i in range(half)]
    down = [high + low - kbps for kbps in up]
    return [(step_s, kbps) for kbps in up + down]


SHAPES: dict[str, Segments] = {
    **{f"const-{kbps}k": [(60.0, float(kbps))] for kbps in (50, 100, 200, 400, 800, 1500, 3000, 8000)},
    "step-down-2000k-200k": [(30.0, 2000.0), (30.0, 200.0)],
    "step-up-200k-2000k": [(30.0, 200.0), (30.0, 2000.0)],
    "square-1500k-100k-3s": _square(1500.0, 100.0, 3.0),
    "square-2000k-200k-10s": _square(2000.0, 200.0, 10.0),
    "outage-4s-every-20s": [(16.0, 1500.0), (4.0, 0.0)] * 3,
    "ramp-100k-2000k": _triangle(100.0, 2000.0),
}


def is_shape(spec: str) -> bool:
    return str(spec).startswith(PREFIX)


def shape(name: str) -> Trace:
    """The named shape as a trace (``name`` with or without the ``shape:`` prefix)."""
    key = name.removeprefix(PREFIX)
    if key not in SHAPES:
        raise ConfigError(f"unknown link shape {key!r}; known: {', '.join(SHAPES)}")
    return Trace.piecewise(SHAPES[key], PREFIX + key)


def open_trace(spec: str) -> Trace:
    """A mahimahi file, or ``shape:NAME`` for a synthetic shape."""
    return shape(spec) if is_shape(spec) else Trace.load(spec)
