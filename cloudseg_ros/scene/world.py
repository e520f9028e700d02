"""The static street: 50 m segments of buildings, cross streets and street furniture.

A segment is generated from (seed, segment index) alone and cached, so any frame
can be rendered without rendering the ones before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cloudseg_ros.scene.facade_style import facade_styles
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.style import CURB, CityStyle, city_style
from cloudseg_ros.scene.things import Thing, make_car, make_person

SEG_LEN = 50.0


@dataclass(frozen=True)
class Block:
    """A building: its street face is the plane |x| = xb between z0 and z1."""

    z0: float
    z1: float
    xb: float
    depth: float
    height: float
    style: int
    tint: float
    s0: float  # texture offset along the facade, metres


@dataclass(frozen=True)
class Segment:
    index: int
    z0: float
    cross: tuple[float, float] | None  # z range of a cross street
    blocks: dict  # (side, layer) -> tuple[Block, ...]; side +1 right / -1 left; layer 0 street, 1 behind
    things: tuple[Thing, ...]

    def in_cross(self, z: float, margin: float = 0.0) -> bool:
        return self.cross is not None and self.cross[0] - margin <= z <= self.cross[1] + margin


def _blocks(rng: np.random.Generator, style: CityStyle, seg_z0: float, cross, side: int, layer: int):
    """Buildings along one side; gaps become walls, fences or hedges (returned as things)."""
    fstyles = facade_styles(style.seed)
    line = style.road.building_line(side)
    blocks: list[Block] = []
    fillers: list[Thing] = []
    z = seg_z0
    end = seg_z0 + SEG_LEN
    while z < end - 1.0:
        if cross is not None and cross[0] - 0.5 <= z < cross[1]:
            z = cross[1] + (0.0 if layer == 0 else rng.uniform(0, 6))
            continue
        length = rng.uniform(8, 28) if layer == 0 else rng.uniform(15, 40)
        z1 = min(z + length, end)
        if cross is not None and z < cross[0] < z1:
            z1 = cross[0]
        if layer == 0 and rng.random() < style.gap_rate:
            gap_end = min(z + rng.uniform(3, 12), z1)
            kind = ["wall", "fence", "hedge", None][int(rng.integers(4))]
            if kind:
                fillers.append(
                    Thing(
                        kind,
                        side * line,
                        z,
                        dict(length=gap_end - z, height=rng.uniform(0.9, 2.2), side=side),
                    )
                )
            z = gap_end
            continue
        k = int(rng.integers(len(fstyles)))
        fs = fstyles[k]
        floors = (
            int(rng.integers(style.floors[0], style.floors[1] + 1))
            + (3 * layer + int(rng.integers(4))) * layer
        )
        setback = (rng.uniform(0, 1.5) if rng.random() < 0.25 else 0.0) if layer == 0 else rng.uniform(12, 30)
        blocks.append(
            Block(
                z0=z,
                z1=z1,
                xb=line + setback,
                depth=rng.uniform(10, 25),
                height=fs.ground + floors * fs.storey + rng.uniform(0.3, 1.2),
                style=k,
                tint=float(rng.uniform(0.85, 1.1)),
                s0=float(rng.uniform(0, fs.tile_w)),
            )
        )
        z = z1
    return tuple(blocks), fillers


def _lamp(style: CityStyle, side: int, z: float) -> Thing:
    rng = stream(style.seed, "lamp-look")
    return Thing(
        "lamp",
        side * (style.road.curb(side) + CURB + 0.35),
        z,
        dict(height=rng.uniform(6, 9), arm=rng.uniform(1.0, 2.2), radius=rng.uniform(0.07, 0.11), side=side),
    )


def _furniture(rng: np.random.Generator, style: CityStyle, seg: Segment, side: int) -> list[Thing]:
    """Lamps, trees, signs, traffic lights, parked cars/bicycles and standing people on one side."""
    road = style.road
    out: list[Thing] = []
    z0, z1 = seg.z0, seg.z0 + SEG_LEN
    curb_x = road.curb(side) + CURB
    # lamps and trees sit on global grids so their rhythm continues across segments
    phase = stream(style.seed, "grid", side).uniform(0, style.lamp_spacing)
    for k in range(
        int(np.floor((z0 - phase) / style.lamp_spacing)), int(np.ceil((z1 - phase) / style.lamp_spacing))
    ):
        z = phase + k * style.lamp_spacing
        if z0 <= z < z1 and not seg.in_cross(z, 2.0):
            lamp = _lamp(style, side, z)
            out.append(lamp)
            if rng.random() < 0.35:  # a small sign strapped to the lamp post
                sign = _sign(rng, lamp.x, z - 0.12, side)
                sign.attrs.update(size=float(rng.uniform(0.25, 0.45)), second=False, pole=False)
                out.append(sign)
    if style.trees:
        strip = road.strip_r if side > 0 else road.strip_l
        x = curb_x + (strip / 2 if strip else 0.9)
        for k in range(int(np.floor(z0 / style.trees)), int(np.ceil(z1 / style.trees))):
            z = k * style.trees + rng.uniform(-1.5, 1.5) + 0.5 * style.trees * (side < 0)
            if z0 <= z < z1 and not seg.in_cross(z, 3.0) and rng.random() < 0.9:
                out.append(_tree(rng, side * (x + rng.uniform(-0.2, 0.2)), z))
    for _ in range(rng.poisson(style.sign_rate * SEG_LEN)):
        z = rng.uniform(z0, z1)
        if not seg.in_cross(z, 1.0):
            out.append(_sign(rng, side * (curb_x + 0.3 + rng.uniform(0, 0.3)), z, side))
    if seg.cross is not None:
        c0, c1 = seg.cross
        faces_us = side > 0
        out.append(_traffic_light(rng, side * (curb_x + 0.5), c0 - 1.2, faces_us, overhead=side > 0))
        out.append(_traffic_light(rng, side * (curb_x + 0.5), c1 + 1.2, faces_us, overhead=False))
    park = road.park_r if side > 0 else road.park_l
    if park:
        x = side * (road.curb(side) - park / 2)
        z = z0 + rng.uniform(0, 4)
        while z < z1 - 4:
            if rng.random() < style.park_rate and not seg.in_cross(z, 9.0) and not seg.in_cross(z + 5, 9.0):
                car = make_car(rng, x + side * rng.uniform(-0.2, 0.1), 0.0, float(side))
                car.z = z + car.attrs["length"] / 2
                out.append(car)
                z += car.attrs["length"] + rng.uniform(0.6, 2.5)
            else:
                z += rng.uniform(3, 9)
    near, far = road.walk_range(side)
    for _ in range(rng.poisson(style.walker_rate * SEG_LEN * 0.45)):
        x, z = rng.uniform(near + 0.3, far - 0.3), rng.uniform(z0, z1)
        for _ in range(1 + int(rng.random() < 0.3) * int(rng.integers(1, 3))):
            p = make_person(rng, side * x + rng.uniform(-0.6, 0.6), z + rng.uniform(-0.7, 0.7), 1.0)
            p.phase = -1.0  # standing
            out.append(p)
    if rng.random() < 0.3:
        bike = Thing(
            "bicycle", side * (far - 0.5), rng.uniform(z0, z1), dict(colour=rng.uniform(0.05, 0.7, 3))
        )
        out.append(bike)
    return out


def _tree(rng: np.random.Generator, x: float, z: float) -> Thing:
    radius = rng.uniform(1.4, 3.0)
    trunk = rng.uniform(1.8, 3.0)
    n = int(rng.integers(6, 11))
    blobs = np.stack(
        [
            rng.normal(0, radius * 0.45, n),  # lateral offset
            trunk + radius * (1 + rng.normal(0, 0.3, n)),  # centre height
            radius * rng.uniform(0.45, 0.75, n),  # blob radius
            rng.uniform(0.75, 1.15, n),  # brightness
        ],
        axis=1,
    )
    colour = np.array([0.2, 0.32, 0.1]) * rng.uniform(0.75, 1.2) + rng.uniform(-0.03, 0.03, 3)
    return Thing(
        "tree",
        x,
        z,
        dict(
            radius=radius,
            trunk=trunk,
            blobs=blobs,
            jitter=1.0 + 0.18 * rng.uniform(-1, 1, (n, 16)),  # ragged blob outlines
            colour=colour.astype(np.float32),
            key=int(rng.integers(1 << 30)),
        ),
    )


def _sign(rng: np.random.Generator, x: float, z: float, side: int) -> Thing:
    shape = ["circle", "triangle", "rect", "octagon", "diamond", "circle_blue"][
        int(rng.choice(6, p=[0.3, 0.2, 0.25, 0.05, 0.07, 0.13]))
    ]
    front = rng.random() < (0.9 if side > 0 else 0.35)
    return Thing(
        "sign",
        x,
        z,
        dict(
            shape=shape,
            size=float(rng.uniform(0.35, 0.65)),
            bottom=float(rng.uniform(2.0, 2.8)),
            front=bool(front),
            aspect=float(rng.uniform(0.55, 1.3)),
            second=bool(rng.random() < 0.25),
            radius=0.04,
        ),
    )


def _traffic_light(rng: np.random.Generator, x: float, z: float, front: bool, overhead: bool) -> Thing:
    return Thing(
        "light",
        x,
        z,
        dict(
            front=front,
            height=float(rng.uniform(2.4, 3.2)),
            lit=int(rng.integers(3)),
            overhead=bool(overhead and rng.random() < 0.6),
            arm=float(rng.uniform(3.0, 6.0)),
            radius=0.07,
        ),
    )


@lru_cache(maxsize=1024)
def cross_street(seed: int, index: int) -> tuple[float, float] | None:
    """z range of the cross street in a segment, if any (cheap: the ground needs it far ahead)."""
    rng = stream(seed, "cross", index)
    if rng.random() >= city_style(seed).cross_rate:
        return None
    width = rng.uniform(9, 15)
    start = index * SEG_LEN + rng.uniform(12, SEG_LEN - width - 6)
    return (start, start + width)


@lru_cache(maxsize=96)
def segment(seed: int, index: int) -> Segment:
    """The street between z = index*SEG_LEN and the next segment, for a seed."""
    style = city_style(seed)
    rng = stream(seed, "segment", index)
    z0 = index * SEG_LEN
    cross = cross_street(seed, index)
    blocks: dict = {}
    things: list[Thing] = []
    for side in (1, -1):
        for layer in (0, 1):
            blocks[(side, layer)], fillers = _blocks(rng, style, z0, cross, side, layer)
            things += fillers
    seg = Segment(index, z0, cross, blocks, ())
    for side in (1, -1):
        things += _furniture(rng, style, seg, side)
    return Segment(index, z0, cross, blocks, tuple(things))


def segments_between(seed: int, z_near: float, z_far: float) -> list[Segment]:
    first = int(np.floor(z_near / SEG_LEN))
    last = int(np.floor(z_far / SEG_LEN))
    return [segment(seed, i) for i in range(first, last + 1)]
