"""Cast shadows, drawn in screen space as projected world polygons.

Buildings shade the street and the opposite facades; vehicles, people, poles and
trees cast shadows on the ground along the sun direction; vehicles also darken the
road beneath them (ambient occlusion). Masks are drawn with the same projection
as everything else, so shadows line up with their casters at any resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from cloudseg_ros.scene.camera import Camera
from cloudseg_ros.scene.painter import SHIFT, project_contours
from cloudseg_ros.scene.style import CityStyle
from cloudseg_ros.scene.things import Thing
from cloudseg_ros.scene.world import Block

SHADOW_RANGE = 150.0  # metres: object shadows beyond this are sub-pixel
BUILDING_SHADOW_RANGE = 400.0


def _ground(points_xz: np.ndarray) -> np.ndarray:
    hull = cv2.convexHull(points_xz.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    return np.stack([hull[:, 0], np.zeros(len(hull)), hull[:, 1]], axis=1)


def _caster_outline(t: Thing) -> tuple[np.ndarray, float] | None:
    """(base outline (N, 2) in x-z, height) of what a thing casts, or None."""
    a = t.attrs
    if t.kind in ("car", "truck", "bus"):
        hw, hl = a["width"] / 2, a["length"] / 2
        return np.array(
            [[t.x - hw, t.z - hl], [t.x + hw, t.z - hl], [t.x + hw, t.z + hl], [t.x - hw, t.z + hl]]
        ), a["height"]
    if t.kind in ("person", "rider"):
        r = 0.2
        return np.array([[t.x - r, t.z], [t.x + r, t.z], [t.x, t.z - 0.12], [t.x, t.z + 0.12]]), a[
            "height"
        ] + (0.3 if t.kind == "rider" else 0)
    if t.kind in ("lamp", "sign", "light"):
        r = 0.08
        h = a.get("height", a.get("bottom", 2.0) + a.get("size", 0.6))
        return np.array([[t.x - r, t.z], [t.x + r, t.z], [t.x, t.z + r]]), h
    if t.kind in ("wall", "fence", "hedge"):
        return np.array(
            [
                [t.x - 0.2, t.z],
                [t.x + 0.2, t.z],
                [t.x + 0.2, t.z + a["length"]],
                [t.x - 0.2, t.z + a["length"]],
            ]
        ), a["height"]
    return None


def shadow_masks(
    cam: Camera, style: CityStyle, blocks: list[tuple[int, Block]], things: list[Thing]
) -> tuple[np.ndarray, np.ndarray]:
    """(sun occlusion, ambient occlusion) masks, uint8 0..255 (255 = fully occluded), full frame."""
    light = style.light
    sun_mask = np.zeros((cam.height, cam.width), np.uint8)
    ao = np.zeros_like(sun_mask)
    lx, ly, lz = (float(c) for c in light.sun_dir)
    polys: list[np.ndarray] = []
    if ly > 0.05:
        off = -np.array([lx, lz]) / ly  # ground displacement of a shadow per metre of height
        for side, b in blocks:
            if b.z0 - cam.z > BUILDING_SHADOW_RANGE or b.z1 < cam.z - 60:
                continue
            xs = (b.xb, b.xb + b.depth) if side > 0 else (-b.xb - b.depth, -b.xb)
            base = np.array([[xs[0], b.z0], [xs[1], b.z0], [xs[1], b.z1], [xs[0], b.z1]])
            polys.append(_ground(np.concatenate([base, base + b.height * off])))
            # the same building darkens the opposite facades up to where its roofline shadow falls
            opposite = style.road.building_line(-side)
            t = side * (b.xb + opposite) / lx if abs(lx) > 1e-3 else -1.0
            y_top = b.height - t * ly
            if t > 0 and y_top > 0:
                x, za, zb = -side * opposite, b.z0 - t * lz, b.z1 - t * lz
                polys.append(np.array([[x, 0, za], [x, 0, zb], [x, y_top, zb], [x, y_top, za]]))
        for t_ in things:
            if t_.z - cam.z > SHADOW_RANGE:
                continue
            cast = _caster_outline(t_)
            if cast is not None:
                base, h = cast
                polys.append(_ground(np.concatenate([base, base + h * off])))
            elif t_.kind == "tree":
                polys += _tree_shadow(t_, off)
    if polys:
        for q in project_contours(cam, polys)[0]:  # one by one: overlaps must union, not cancel
            cv2.fillPoly(sun_mask, [q], 255, cv2.LINE_8, SHIFT)
    under = []
    for t_ in things:
        if t_.kind in ("car", "truck", "bus") and t_.z - cam.z < SHADOW_RANGE:
            hw, hl = t_.attrs["width"] / 2 + 0.1, t_.attrs["length"] / 2 + 0.1
            x0, x1, z0, z1 = t_.x - hw, t_.x + hw, t_.z - hl, t_.z + hl
            under.append(np.array([[x0, 0, z0], [x1, 0, z0], [x1, 0, z1], [x0, 0, z1]]))
    if under:
        for q in project_contours(cam, under)[0]:
            cv2.fillPoly(ao, [q], 255, cv2.LINE_8, SHIFT)
    s = max(cam.scale, 0.25)
    return cv2.GaussianBlur(sun_mask, (0, 0), 1.2 * s), cv2.GaussianBlur(ao, (0, 0), 3.0 * s)


def _tree_shadow(t: Thing, off: np.ndarray) -> list[np.ndarray]:
    a = t.attrs
    trunk = _ground(
        np.array(
            [
                [t.x - 0.15, t.z],
                [t.x + 0.15, t.z],
                [t.x - 0.15 + off[0] * a["trunk"], t.z + off[1] * a["trunk"]],
                [t.x + 0.15 + off[0] * a["trunk"], t.z + off[1] * a["trunk"]],
            ]
        )
    )
    centre = np.array([t.x, t.z]) + off * (a["trunk"] + a["radius"])
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    stretch = np.hypot(*off) + 1.0
    along = off / max(np.linalg.norm(off), 1e-6)
    across = np.array([-along[1], along[0]])
    r = a["radius"] * 0.9
    pts = centre + np.outer(np.cos(ang) * r * stretch, along) + np.outer(np.sin(ang) * r, across)
    return [trunk, np.stack([pts[:, 0], np.zeros(16), pts[:, 1]], axis=1)]


def sunlit(style: CityStyle, blocks: list[tuple[int, Block]], things: list[Thing]) -> np.ndarray:
    """Per thing: 1 if the sun reaches it (1 m above its base), 0 if a building is in the way."""
    lx, ly, lz = (float(c) for c in style.light.sun_dir)
    out = np.ones(len(things), np.float32)
    if not things or not blocks or abs(lx) < 1e-3 or ly <= 0.05:
        return out
    x = np.array([t.x for t in things])[:, None]
    z = np.array([t.z for t in things])[:, None]
    bx = np.array([s * b.xb for s, b in blocks])[None, :]
    t = (bx - x) / lx
    y = 1.0 + t * ly
    zz = z + t * lz
    hit = (
        (t > 0)
        & (y < np.array([b.height for _, b in blocks]))
        & (zz >= np.array([b.z0 for _, b in blocks]))
        & (zz <= np.array([b.z1 for _, b in blocks]))
    )
    out[hit.any(axis=1)] = 0.0
    return out
