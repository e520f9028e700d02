"""Placed objects: what they are, where they stand, and their look (decided at placement).

Attributes are drawn once, when a segment or traffic cell is generated, so an
object looks the same in every frame and at every resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CAR_COLOURS = np.array(
    [
        (0.85, 0.85, 0.86),
        (0.08, 0.08, 0.09),
        (0.55, 0.56, 0.58),
        (0.32, 0.33, 0.35),
        (0.12, 0.18, 0.35),
        (0.55, 0.08, 0.07),
        (0.75, 0.75, 0.72),
        (0.2, 0.3, 0.25),
        (0.6, 0.45, 0.25),
        (0.9, 0.9, 0.9),
        (0.15, 0.25, 0.5),
        (0.85, 0.6, 0.1),
    ],
    dtype=np.float32,
)
CLOTHES = np.array(
    [
        (0.1, 0.1, 0.12),
        (0.2, 0.22, 0.3),
        (0.55, 0.1, 0.12),
        (0.8, 0.8, 0.78),
        (0.3, 0.4, 0.6),
        (0.5, 0.45, 0.35),
        (0.15, 0.3, 0.2),
        (0.85, 0.65, 0.2),
        (0.4, 0.4, 0.42),
        (0.6, 0.3, 0.5),
        (0.2, 0.45, 0.7),
        (0.7, 0.2, 0.1),
    ],
    dtype=np.float32,
)
TROUSERS = np.array(
    [(0.12, 0.16, 0.28), (0.08, 0.08, 0.1), (0.3, 0.3, 0.32), (0.55, 0.5, 0.4), (0.2, 0.25, 0.4)],
    dtype=np.float32,
)
SKIN = np.array(
    [(0.87, 0.7, 0.58), (0.75, 0.55, 0.42), (0.55, 0.38, 0.28), (0.35, 0.24, 0.18)], dtype=np.float32
)
HAIR = np.array(
    [(0.08, 0.06, 0.05), (0.3, 0.2, 0.12), (0.7, 0.58, 0.35), (0.55, 0.55, 0.55)], dtype=np.float32
)


BARRIERS = ("wall", "fence", "hedge")  # long structures along the building line; z = their start


@dataclass
class Thing:
    """One object in world space. ``x, z``: ground position of its centre (long structures: start)."""

    kind: str
    x: float
    z: float
    attrs: dict = field(default_factory=dict)
    heading: float = 1.0  # +1 faces/moves along +z, -1 against
    phase: float = 0.0  # walk/pedal cycle in radians

    def span(self) -> tuple[float, float]:
        """(nearest, farthest) z the object occupies."""
        length = self.attrs.get("length", 0.0)
        if self.kind in BARRIERS:
            return self.z, self.z + length
        return self.z - length / 2, self.z + length / 2

    def paint_order(self) -> float:
        """Painter's-algorithm key, larger first: barriers stand on the building line, behind every
        other object from the camera's side, so they go first; the rest far to near."""
        return np.inf if self.kind in BARRIERS else self.span()[0]


def make_car(rng: np.random.Generator, x: float, z: float, heading: float, kind: str = "car") -> Thing:
    """A vehicle with its dimensions and colours. kind: car, truck or bus."""
    if kind == "bus":
        dims = dict(length=rng.uniform(11, 13), width=2.5, height=3.0)
        colour = [(0.85, 0.75, 0.1), (0.9, 0.9, 0.9), (0.7, 0.1, 0.1), (0.15, 0.35, 0.6)][
            int(rng.integers(4))
        ]
    elif kind == "truck":
        dims = dict(length=rng.uniform(6, 9), width=2.4, height=rng.uniform(2.8, 3.5))
        colour = [(0.9, 0.9, 0.9), (0.75, 0.75, 0.78), (0.3, 0.4, 0.55), (0.6, 0.15, 0.1)][
            int(rng.integers(4))
        ]
    else:
        shape = int(rng.choice(3, p=[0.6, 0.25, 0.15]))  # sedan, SUV, van
        dims = dict(
            length=rng.uniform(3.8, 4.9) if shape < 2 else rng.uniform(4.6, 5.3),
            width=rng.uniform(1.7, 1.9),
            height=[rng.uniform(1.4, 1.5), rng.uniform(1.6, 1.75), rng.uniform(1.9, 2.2)][shape],
            shape=shape,
        )
        colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    tone = rng.uniform(0.9, 1.08)
    return Thing(kind, x, z, dict(dims, colour=np.asarray(colour, np.float32) * tone), heading)


def make_person(rng: np.random.Generator, x: float, z: float, heading: float, kind: str = "person") -> Thing:
    """A pedestrian (or a rider, who also gets a bicycle/motorcycle)."""
    child = rng.random() < 0.08
    h = rng.uniform(1.05, 1.4) if child else rng.normal(1.74, 0.08)
    attrs = dict(
        height=float(h),
        width=float(h * rng.uniform(0.23, 0.28)),
        top=CLOTHES[int(rng.integers(len(CLOTHES)))] * rng.uniform(0.8, 1.1),
        legs=TROUSERS[int(rng.integers(len(TROUSERS)))] * rng.uniform(0.8, 1.1),
        skin=SKIN[int(rng.integers(len(SKIN)))],
        hair=HAIR[int(rng.integers(len(HAIR)))],
        coat=bool(rng.random() < 0.25),
        bag=bool(rng.random() < 0.3),
        turn=float(rng.uniform(-0.3, 0.3)),
    )
    if kind == "rider":
        attrs["motor"] = bool(rng.random() < 0.2)
    return Thing(kind, x, z, attrs, heading, float(rng.uniform(0, 2 * np.pi)))
