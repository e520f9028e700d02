"""Moving traffic: cars per lane, walkers per sidewalk, cyclists.

Each stream (a lane, a walking direction) moves at one speed, and its objects are
generated in 40 m cells of the stream's own co-moving coordinate. Where a cell is
at time t is then a closed-form shift, so a frame needs only the cells in view:
random access stays O(1) in the frame index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.style import CityStyle
from cloudseg_ros.scene.things import Thing, make_car, make_person

CELL = 40.0


@dataclass(frozen=True)
class Stream:
    """Objects moving at ``speed`` (m/s, signed) along x = ``x``; ``rate`` objects per metre."""

    name: str
    x: float
    speed: float
    rate: float
    spawn: str  # "car", "walker", "cyclist"
    spread: float = 0.0  # lateral spread around x
    keep_clear: tuple[float, float] | None = None  # co-moving range kept empty (the ego's own slot)
    heading: float = 1.0  # which way its objects face


def streams(style: CityStyle, ego_speed: float, density: float, moving: bool) -> list[Stream]:
    """The moving streams of a street for an ego speed; ``moving=False`` freezes them in place."""
    road = style.road
    rng = stream(style.seed, "streams")
    out = []
    lw = road.lane_w
    for i in range(road.n_fwd):
        ego = i == road.ego_lane
        v = ego_speed if ego else ego_speed * rng.uniform(0.75, 1.3) + rng.uniform(-1, 2)
        clear = (-12.0, 9.0) if ego else None
        out.append(Stream(f"fwd{i}", (i + 0.5) * lw, v, style.traffic * density, "car", 0.15, clear, 1.0))
    for i in range(road.n_back):
        v = -max(style.cruise, ego_speed * 0.6) * rng.uniform(0.8, 1.2)
        out.append(Stream(f"back{i}", -(i + 0.5) * lw, v, style.traffic * density, "car", 0.15, None, -1.0))
    walk = rng.uniform(1.2, 1.5)
    for side in (1, -1):
        near, far = road.walk_range(side)
        centre = side * (near + far) / 2
        for direction in (1, -1):
            rate = style.walker_rate * 0.3 * density
            spread = (far - near) / 2 - 0.4
            out.append(
                Stream(
                    f"walk{side}{direction}",
                    centre,
                    direction * walk,
                    rate,
                    "walker",
                    spread,
                    None,
                    direction,
                )
            )
    bike_rate = 0.006 * density * rng.uniform(0.3, 1.5)
    out.append(
        Stream("bike1", road.n_fwd * lw - 0.8, rng.uniform(4, 6.5), bike_rate, "cyclist", 0.2, None, 1.0)
    )
    out.append(
        Stream("bike-1", -road.n_back * lw + 0.8, -rng.uniform(4, 6.5), bike_rate, "cyclist", 0.2, None, -1.0)
    )
    if not moving:
        out = [Stream(s.name, s.x, 0.0, s.rate, s.spawn, s.spread, s.keep_clear, s.heading) for s in out]
    return out


def _spawn_car(rng: np.random.Generator, x: float, heading: float) -> Thing:
    kind = str(rng.choice(["car", "truck", "bus"], p=[0.86, 0.08, 0.06]))
    return make_car(rng, x, 0.0, heading, kind)


def _spawn_walker(rng: np.random.Generator, x: float, heading: float) -> Thing:
    return make_person(rng, x, 0.0, heading)


def _spawn_cyclist(rng: np.random.Generator, x: float, heading: float) -> Thing:
    return make_person(rng, x, 0.0, heading, "rider")


SPAWN: dict[str, Callable[[np.random.Generator, float, float], Thing]] = {
    "car": _spawn_car,
    "walker": _spawn_walker,
    "cyclist": _spawn_cyclist,
}


@lru_cache(maxsize=512)
def _cell(seed: int, s: Stream, cell: int) -> tuple[tuple[float, Thing], ...]:
    """Objects of one cell: (co-moving position, thing with x set and z relative to 0)."""
    rng = stream(seed, "cell", s.name, cell)
    heading = s.heading
    out = []
    pos = cell * CELL + rng.exponential(1 / max(s.rate, 1e-6)) * 0.5
    while pos < (cell + 1) * CELL:
        thing = SPAWN[s.spawn](rng, s.x + rng.uniform(-s.spread, s.spread), heading)
        length = thing.attrs.get("length", 0.8)
        if pos + length < (cell + 1) * CELL and not (
            s.keep_clear and s.keep_clear[0] - length < pos + length / 2 < s.keep_clear[1] + length
        ):
            out.append((pos + length / 2, thing))
        pos += length + 1.5 + rng.exponential(1 / max(s.rate, 1e-6))
    return tuple(out)


def moving_things(
    seed: int, all_streams: list[Stream], z_origin: float, t: float, z_near: float, z_far: float
) -> list[Thing]:
    """Moving objects between z_near and z_far at time t (co-moving 0 is at z_origin at t = 0)."""
    out = []
    for s in all_streams:
        shift = z_origin + s.speed * t
        for cell in range(int(np.floor((z_near - shift) / CELL)), int(np.floor((z_far - shift) / CELL)) + 1):
            for pos, proto in _cell(seed, s, cell):
                z = pos + shift
                if z_near <= z <= z_far:
                    thing = Thing(proto.kind, proto.x, z, proto.attrs, proto.heading, proto.phase)
                    if s.spawn != "car":
                        stride = 1.6 if s.spawn == "walker" else 5.0
                        thing.phase = proto.phase + abs(s.speed) * t / stride * 2 * np.pi
                    out.append(thing)
    return out
