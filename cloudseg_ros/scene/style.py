"""Per-seed city style: road layout, palette, densities, lighting and sensor.

A seed picks a *kind of street* (width, lanes, trees or not, building heights,
time of day and weather, camera quality); the segments along it then vary within
that style. Variety across seeds comes from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cloudseg_ros.scene.rng import stream

CURB = 0.2  # metres of curb stone, labelled sidewalk


@dataclass(frozen=True)
class RoadLayout:
    """Lateral cross-section, x = 0 on the centre line, right side positive."""

    lane_w: float
    n_fwd: int
    n_back: int
    park_r: float  # parking lane width (0 = none)
    park_l: float
    strip_r: float  # grass strip between curb and sidewalk (0 = none)
    strip_l: float
    walk_r: float  # sidewalk width
    walk_l: float
    yard_r: float  # front yard between sidewalk and facades
    yard_l: float
    centre_dashed: bool
    ego_lane: int

    @property
    def road_r(self) -> float:
        return self.n_fwd * self.lane_w + self.park_r

    @property
    def road_l(self) -> float:
        return self.n_back * self.lane_w + self.park_l

    def building_line(self, side: int) -> float:
        """Distance from the centre line to the facades on side +1 (right) or -1 (left)."""
        if side > 0:
            return self.road_r + CURB + self.strip_r + self.walk_r + self.yard_r
        return self.road_l + CURB + self.strip_l + self.walk_l + self.yard_l

    def walk_range(self, side: int) -> tuple[float, float]:
        """(near, far) distance of the walkable sidewalk from the centre line."""
        road = self.road_r if side > 0 else self.road_l
        strip = self.strip_r if side > 0 else self.strip_l
        walk = self.walk_r if side > 0 else self.walk_l
        return road + CURB + strip, road + CURB + strip + walk

    def curb(self, side: int) -> float:
        return self.road_r if side > 0 else self.road_l


@dataclass(frozen=True)
class Lighting:
    """Sun, sky and air. Colours are linear-ish RGB in 0..1 display units."""

    sun_dir: np.ndarray  # unit vector towards the sun
    sun: np.ndarray  # direct light
    ambient: np.ndarray  # sky light
    haze: np.ndarray  # colour of distant air
    haze_dist: float  # metres for 63 % haze
    zenith: np.ndarray
    horizon: np.ndarray
    clouds: float  # 0 clear .. 1 overcast

    def fog(self, depth: np.ndarray | float) -> np.ndarray | float:
        """Fraction of haze at a distance (Beer-Lambert)."""
        return 1.0 - np.exp(-np.asarray(depth, dtype=np.float32) / self.haze_dist)


@dataclass(frozen=True)
class Palette:
    asphalt: np.ndarray
    walk: np.ndarray
    curb: np.ndarray
    grass: np.ndarray
    paint: np.ndarray
    walls: np.ndarray  # (k, 3) facade colours to choose from


@dataclass(frozen=True)
class CityStyle:
    seed: int
    road: RoadLayout
    palette: Palette
    light: Lighting
    cam_height: float
    cruise: float  # ego speed in the default variant, m/s
    floors: tuple[int, int]  # building floor count range
    gap_rate: float  # chance of a gap between buildings
    cross_rate: float  # chance a segment has a cross street
    trees: float  # tree spacing in metres along the curb (0 = no trees)
    lamp_spacing: float
    sign_rate: float  # traffic signs per metre per side
    walker_rate: float  # pedestrians per metre per sidewalk
    park_rate: float  # fraction of parking lane occupied
    traffic: float  # cars per metre per lane
    noise: float  # sensor noise sigma, 8-bit units
    cast: np.ndarray  # per-channel white-balance error
    exposure: float
    vignette: float
    blur: float  # optical blur sigma in 1024-wide pixels


def _pick(rng: np.random.Generator, options: list) -> object:
    return options[int(rng.integers(len(options)))]


def _lighting(rng: np.random.Generator) -> Lighting:
    clouds = float(rng.choice([0.0, 0.1, 0.3, 0.6, 0.9], p=[0.25, 0.25, 0.2, 0.15, 0.15]))
    elev = math.radians(rng.uniform(14, 60))
    azim = rng.uniform(0, 2 * math.pi)  # 0 = sun straight ahead
    sun_dir = np.array([math.cos(elev) * math.sin(azim), math.sin(elev), math.cos(elev) * math.cos(azim)])
    warm = max(0.0, 1.0 - (math.degrees(elev) - 14) / 30)  # low sun is warmer
    sun_col = np.array([1.0, 0.93 - 0.08 * warm, 0.84 - 0.2 * warm])
    sun_strength = (1.0 - 0.85 * clouds) * rng.uniform(0.75, 0.95)
    sky_col = np.array([0.55, 0.65, 0.85]) * (1 - clouds) + np.array([0.7, 0.72, 0.75]) * clouds
    ambient = sky_col * rng.uniform(0.45, 0.55) + 0.15 * clouds
    zenith = np.array([0.28, 0.45, 0.78]) * (1 - clouds) + np.array([0.62, 0.64, 0.68]) * clouds
    horizon = np.array([0.72, 0.8, 0.9]) * (1 - clouds) + np.array([0.8, 0.8, 0.82]) * clouds
    horizon = horizon + warm * np.array([0.08, 0.02, -0.06]) * (1 - clouds)
    haze = horizon * 0.9 + 0.05
    return Lighting(
        sun_dir=sun_dir.astype(np.float32),
        sun=(sun_col * sun_strength).astype(np.float32),
        ambient=ambient.astype(np.float32),
        haze=haze.astype(np.float32),
        haze_dist=float(rng.uniform(350, 900) * (1 - 0.4 * clouds)),
        zenith=zenith.astype(np.float32),
        horizon=horizon.astype(np.float32),
        clouds=clouds,
    )


def _palette(rng: np.random.Generator) -> Palette:
    grey = rng.uniform(0.24, 0.38)
    asphalt = np.array([grey, grey, grey * rng.uniform(1.0, 1.08)])
    walk = _pick(rng, [(0.62, 0.6, 0.57), (0.55, 0.55, 0.56), (0.6, 0.47, 0.42), (0.68, 0.64, 0.58)])
    grass = _pick(rng, [(0.28, 0.42, 0.16), (0.36, 0.45, 0.2), (0.42, 0.44, 0.24), (0.25, 0.36, 0.15)])
    walls = np.array(
        [
            (0.82, 0.78, 0.68),
            (0.7, 0.66, 0.6),
            (0.62, 0.4, 0.32),
            (0.55, 0.55, 0.55),
            (0.85, 0.85, 0.82),
            (0.76, 0.62, 0.45),
            (0.45, 0.42, 0.4),
            (0.72, 0.55, 0.5),
            (0.6, 0.64, 0.66),
            (0.9, 0.82, 0.6),
        ]
    )
    chosen = walls[rng.choice(len(walls), size=6, replace=False)] * rng.uniform(0.85, 1.05, size=(6, 1))
    return Palette(
        asphalt=asphalt.astype(np.float32),
        walk=np.asarray(walk, dtype=np.float32),
        curb=np.asarray(walk, dtype=np.float32) * 1.1,
        grass=np.asarray(grass, dtype=np.float32),
        paint=np.array([0.88, 0.88, 0.85], dtype=np.float32),
        walls=chosen.astype(np.float32),
    )


def city_style(seed: int) -> CityStyle:
    """The style of the street for a seed (cheap; callers may cache it)."""
    rng = stream(seed, "style")
    n_fwd = int(rng.choice([1, 2, 2, 3]))
    n_back = int(rng.choice([1, 1, 2])) if n_fwd < 3 else 2
    wide = n_fwd + n_back >= 4
    trees = float(rng.choice([0.0, 9.0, 12.0, 16.0], p=[0.3, 0.3, 0.25, 0.15]))
    road = RoadLayout(
        lane_w=float(rng.uniform(3.0, 3.6)),
        n_fwd=n_fwd,
        n_back=n_back,
        park_r=float(rng.choice([0.0, 2.2], p=[0.35, 0.65])),
        park_l=float(rng.choice([0.0, 2.2], p=[0.5, 0.5])),
        strip_r=float(rng.choice([0.0, 1.5, 2.5])) if trees else float(rng.choice([0.0, 0.0, 1.2])),
        strip_l=float(rng.choice([0.0, 1.5, 2.5])) if trees else 0.0,
        walk_r=float(rng.uniform(3.0, 6.5)),
        walk_l=float(rng.uniform(3.0, 6.5)),
        yard_r=float(rng.choice([0.0, 0.0, 0.0, 3.0])),
        yard_l=float(rng.choice([0.0, 0.0, 4.0])),
        centre_dashed=bool(rng.random() < 0.6),
        ego_lane=n_fwd - 1 if rng.random() < 0.7 else int(rng.integers(n_fwd)),  # mostly the right lane
    )
    lo = int(rng.integers(2, 5))
    return CityStyle(
        seed=seed,
        road=road,
        palette=_palette(rng),
        light=_lighting(rng),
        cam_height=float(rng.uniform(1.25, 1.6)),
        cruise=float(rng.uniform(7.0, 12.0)),
        floors=(lo, lo + int(rng.integers(1, 5)) + (2 if wide else 0)),
        gap_rate=float(rng.uniform(0.05, 0.3)),
        cross_rate=float(rng.uniform(0.2, 0.5)),
        trees=trees,
        lamp_spacing=float(rng.uniform(22, 36)),
        sign_rate=float(rng.uniform(1 / 40, 1 / 16)),
        walker_rate=float(rng.uniform(1 / 22, 1 / 9)),
        park_rate=float(rng.uniform(0.15, 0.7)),
        traffic=float(rng.uniform(1 / 100, 1 / 45)),
        noise=float(rng.uniform(1.5, 4.0)),
        cast=rng.uniform(0.94, 1.06, size=3).astype(np.float32),
        exposure=float(rng.uniform(0.9, 1.12)),
        vignette=float(rng.uniform(0.1, 0.3)),
        blur=float(rng.uniform(0.45, 0.8)),
    )
