"""The embedded driving scene: ``DrivingScene(seed, width, height, variant).render(index)``.

A frame is composed from world state at time ``index / fps`` only:

1. the camera pose from the ego path (camera.py),
2. sky (sky.py), ground by per-row ray casting (ground.py), facades by per-column
   ray casting (facades.py),
3. shadows of buildings and objects (shadows.py), then shading and haze,
4. objects far to near with shared image/label polygons (objects.py, painter.py),
5. the ego hood and the sensor (sensor.py).

Labels are Cityscapes train ids from the same geometry as the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.scene.camera import HORIZON, NEAR, Camera, EgoPath, pixel_centres
from cloudseg_ros.scene.facades import cast, draw_facades
from cloudseg_ros.scene.ground import draw_ground
from cloudseg_ros.scene.labels import IGNORE_ID, TRAIN_ID
from cloudseg_ros.scene.objects import DRAW
from cloudseg_ros.scene.painter import Painter
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.sensor import develop
from cloudseg_ros.scene.shadows import shadow_masks, sunlit
from cloudseg_ros.scene.sky import sky_image
from cloudseg_ros.scene.style import CityStyle, city_style
from cloudseg_ros.scene.things import Thing
from cloudseg_ros.scene.traffic import Stream, moving_things, streams
from cloudseg_ros.scene.world import segments_between

OBJECT_FAR = 230.0  # metres: objects beyond are below a pixel or lost in haze
FACADE_FAR = 900.0
MIN_SIZE = 16


@dataclass(frozen=True)
class Variant:
    """How the ego and traffic behave: ``speed`` scales the seed's cruise speed."""

    speed: float
    density: float
    moving: bool
    shake: float
    sway: float
    surge: float


VARIANTS = {
    "default": Variant(speed=1.0, density=1.0, moving=True, shake=0.003, sway=0.12, surge=2.0),
    "static": Variant(speed=0.0, density=1.0, moving=False, shake=0.0, sway=0.0, surge=0.0),
    "fast": Variant(speed=2.2, density=1.8, moving=True, shake=0.005, sway=0.2, surge=2.5),
}


@dataclass(frozen=True)
class Placement:
    """Where an object was drawn in a frame: for tests and debugging (perspective checks)."""

    kind: str
    x: float
    z: float
    depth: float  # metres ahead of the camera
    height: float  # metres
    top: float  # image rows of its top and base, if it were unoccluded
    base: float


@dataclass(frozen=True)
class SceneFrame:
    """One rendered frame: RGB image, Cityscapes train-id labels (255 = ignore), its index and time."""

    image: np.ndarray
    labels: np.ndarray
    index: int
    time_s: float
    placements: tuple[Placement, ...] = field(default=(), repr=False, compare=False)


@lru_cache(maxsize=16)
def _hood(seed: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(mask, colour) of the ego vehicle's bonnet at the bottom edge, or None for a bonnet-less rig."""
    rng = stream(seed, "hood")
    if rng.random() < 0.35:
        return None
    frac = rng.uniform(0.05, 0.09)
    _, v = pixel_centres(width, height)
    u, _ = pixel_centres(width, height)
    x = (u - width / 2) / (width / 2)
    edge = height * (1 - frac) + height * rng.uniform(0.03, 0.06) * x**2
    mask = (v[:, None] >= edge[None, :]).view(np.uint8)
    paint = rng.uniform(0.03, 0.35) * np.ones(3) + rng.uniform(-0.02, 0.02, 3)
    depth = np.clip((v[:, None] - edge[None, :]) / (frac * height), 0, 1)
    colour = (paint * 0.6 + 0.25 * (1 - depth[..., None]) * np.array([0.7, 0.75, 0.8])).astype(np.float32)
    return mask, np.ascontiguousarray(colour)


class DrivingScene:
    """A seeded, endless city drive. ``render(i)`` is deterministic and random-access.

    ``variant``: "default" (city driving with some traffic), "static" (ego stopped, nothing
    moves: consecutive frames differ only by sensor noise) or "fast" (high speed, dense traffic).

    Per-seed textures (~30 MB) and per-size tables are cached for the few most recently used
    seeds/sizes, so the first frame of a seed costs a few hundred ms and later ones tens of ms:
    render frames of a seed together rather than interleaving many seeds. ``render`` keeps no
    per-call state on the instance and may be called from several threads.
    """

    def __init__(
        self, seed: int = 0, width: int = 1024, height: int = 512, variant: str = "default", fps: float = 10.0
    ):
        if variant not in VARIANTS:
            raise ConfigError(f"unknown scene variant {variant!r}; choose one of {sorted(VARIANTS)}")
        if int(width) < MIN_SIZE or int(height) < MIN_SIZE:
            raise ConfigError(f"scene size {width}x{height} is too small (minimum {MIN_SIZE}x{MIN_SIZE})")
        if not fps > 0:
            raise ConfigError(f"fps must be positive, got {fps}")
        self.seed = int(seed)
        self.width = int(width)
        self.height = int(height)
        self.variant = variant
        self.fps = float(fps)
        self.style: CityStyle = city_style(self.seed)
        v = VARIANTS[variant]
        rng = stream(self.seed, "ego")
        self.speed = self.style.cruise * v.speed
        road = self.style.road
        self.path = EgoPath(
            speed=self.speed,
            z0=float(rng.uniform(0, 5000)),
            x=(road.ego_lane + 0.5) * road.lane_w,
            height=self.style.cam_height,
            surge=v.surge * min(1.0, self.speed / 5),
            sway=v.sway,
            shake=v.shake,
            phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 4)),
        )
        self._streams: list[Stream] = streams(self.style, self.speed, v.density, v.moving)

    def camera(self, index: int) -> Camera:
        return self.path.camera(index / self.fps, self.width, self.height)

    def things(self, index: int) -> list[Thing]:
        """Objects in view range at a frame, static and moving."""
        cam = self.camera(index)
        near, far = cam.z + NEAR, cam.z + OBJECT_FAR
        segs = segments_between(self.seed, near - 30, far)
        out = [t for seg in segs for t in seg.things if t.span()[1] > near and t.z < far]
        out += moving_things(self.seed, self._streams, self.path.z0, index / self.fps, near - 10, far)
        return out

    def buildings(self, cam: Camera) -> tuple[list, list]:
        """(street-front, back-row) buildings in view as (side, Block) pairs."""
        front, back = [], []
        for seg in segments_between(self.seed, cam.z - 40, cam.z + FACADE_FAR):
            for (side, layer), blocks in seg.blocks.items():
                (back if layer else front).extend((side, b) for b in blocks)
        return front, back

    def render(self, index: int) -> SceneFrame:
        index = int(index)
        t = index / self.fps
        cam = self.camera(index)
        style = self.style
        w, h = self.width, self.height
        sky, m = sky_image(self.seed, w, h)
        # the sky is at infinity: camera shake shifts it, translation does not
        ox = int(np.clip(round(m - (cam.cx - w / 2)), 0, 2 * m))
        oy = int(np.clip(round(m - (cam.cy - HORIZON * h)), 0, 2 * m))
        image = np.empty((h, w, 3), np.float32)
        horizon = int(np.clip(np.ceil(cam.cy), 0, h))  # the ground covers everything below
        image[:horizon] = sky[oy : oy + horizon, ox : ox + w]
        labels = np.full((h, w), TRAIN_ID["sky"], np.uint8)

        blocks, back = self.buildings(cam)
        things = self.things(index)
        sun_occ, ao = shadow_masks(cam, style, blocks, things)
        light = style.light

        draw_ground(self.seed, cam, light, sun_occ, ao, image, labels)
        street = cast(cam, blocks)
        found = np.isfinite(street.depth)
        roofline = np.where(
            found, cam.cy - cam.f * (street.height - cam.y) / np.where(found, street.depth, 1), np.inf
        )
        draw_facades(self.seed, cam, cast(cam, back), light, sun_occ, image, labels, limit=roofline)
        draw_facades(self.seed, cam, street, light, sun_occ, image, labels)

        # objects, far to near
        painter = Painter(cam, image, labels, light)
        order = sorted(range(len(things)), key=lambda i: -things[i].paint_order())
        sun = sunlit(style, blocks, things)
        placements = []
        for i in order:
            thing = things[i]
            if not _in_view(cam, thing):
                continue
            DRAW[thing.kind](painter, thing, float(sun[i]))
            placements.append(_placement(cam, thing))
        painter.flush()

        hood = _hood(self.seed, w, h)
        if hood is not None:
            mask, colour = hood
            cv2.copyTo(colour, mask, image)
            labels[mask.view(bool)] = IGNORE_ID
        out = develop(
            image, cam, style, self.speed * VARIANTS[self.variant].moving, stream(self.seed, "sensor", index)
        )
        return SceneFrame(out, labels, index, t, tuple(placements))


def _extent(t: Thing) -> tuple[float, float]:
    """(half width in x, height) for culling and placement reports."""
    a = t.attrs
    if t.kind in ("car", "truck", "bus"):
        return a["width"] / 2, a["height"]
    if t.kind in ("person", "rider"):
        return 0.5, a["height"] + (0.5 if t.kind == "rider" else 0)
    if t.kind == "tree":
        return a["radius"] * 1.5, a["trunk"] + 2.5 * a["radius"]
    if t.kind == "lamp":
        return a["arm"] + 0.5, a["height"]
    if t.kind == "light":
        return a["arm"] + 0.5, 6.0
    if t.kind == "sign":
        return a["size"], a["bottom"] + 2 * a["size"]
    return 1.0, a.get("height", 2.0)


def _in_view(cam: Camera, t: Thing) -> bool:
    half, _ = _extent(t)
    if t.kind in ("wall", "fence", "hedge", "car", "truck", "bus", "bicycle"):
        return True  # long along z: cheap enough, and clipping handles the rest
    d = t.z - cam.z
    if d < NEAR:
        return False
    u0 = cam.cx + cam.f * (t.x - half - cam.x) / d
    u1 = cam.cx + cam.f * (t.x + half - cam.x) / d
    return u1 >= -2 and u0 <= cam.width + 2


def _placement(cam: Camera, t: Thing) -> Placement:
    _, height = _extent(t)
    d = max(t.z - cam.z, NEAR)
    if t.kind in ("person",):
        height = t.attrs["height"]
    top = cam.cy - cam.f * (height - cam.y) / d
    base = cam.cy + cam.f * cam.y / d
    return Placement(t.kind, t.x, t.z, d, height, float(top), float(base))
