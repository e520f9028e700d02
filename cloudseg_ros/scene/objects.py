"""How each kind of object is drawn, as world-space polygons (see painter.py, geometry.py).

Sizes are physical, so projected size falls with 1/distance and small, distant
objects cover only a few pixels. Below a few pixels of height objects drop their
small details (level of detail), which also keeps far crowds and parked rows cheap.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from cloudseg_ros.scene.geometry import (
    TOP,
    Z_MINUS,
    bar,
    ellipse,
    hexahedron,
    inset,
    quad,
    side_ellipse,
    visible_faces,
)
from cloudseg_ros.scene.labels import TRAIN_ID
from cloudseg_ros.scene.painter import SHIFT, Painter, modulate
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.textures import value_noise
from cloudseg_ros.scene.things import Thing

GLASS = np.array([0.09, 0.11, 0.14], np.float32)
TYRE = np.array([0.04, 0.04, 0.045], np.float32)
METAL = np.array([0.42, 0.43, 0.45], np.float32)
POLE_LABEL = TRAIN_ID["pole"]
VEG = TRAIN_ID["vegetation"]
CYL_LEFT, CYL_RIGHT = (-0.7, 0.0, -0.7), (0.7, 0.0, -0.7)  # normals of a pole's two visible halves


def _box(p: Painter, verts: np.ndarray, colour, label: int) -> list:
    faces = visible_faces(verts, p.cam_pos)
    for _, face, n in faces:
        p.poly(face, colour, label, n)
    return faces


def draw_vehicle(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    length, width, height = a["length"], a["width"], a["height"]
    x0, x1, z0, z1 = t.x - width / 2, t.x + width / 2, t.z - length / 2, t.z + length / 2
    p.begin(z0 - p.cam.z, sun)
    label = TRAIN_ID[t.kind]
    size = p.pixel_height(height)
    colour = a["colour"]
    if size < 8:  # a few pixels: the near face and the flank towards the camera
        p.poly(quad(x0, x1, 0.12, height * 0.92, z0), colour * 0.7, label)
        xs = x0 if p.cam.x < x0 else (x1 if p.cam.x > x1 else None)
        if xs is not None:
            flank = [[xs, 0.12, z0], [xs, 0.12, z1], [xs, height * 0.6, z1], [xs, height * 0.92, z0]]
            p.poly(np.array(flank), colour * 0.8, label)
        return
    detail = size > 16
    front_near = t.heading < 0  # an oncoming vehicle shows us its front
    ax0, ax1 = z0 + min(1.0, 0.2 * length), z1 - min(1.0, 0.2 * length)
    r = 0.34 if t.kind == "car" else 0.5
    for xa, xb in ((x0 + 0.03, x0 + 0.3), (x1 - 0.3, x1 - 0.03)):  # wheels and underbody below the body
        p.poly(quad(xa, xb, 0.0, 2 * r * 0.9, ax0 + 0.3), TYRE, label)
    p.poly(quad(x0 + 0.1, x1 - 0.1, 0.1, 0.35, z0 + 0.5), TYRE * 2, label, sun=0.0)
    if t.kind == "car":
        shape = a.get("shape", 0)
        belt = 0.25 + (height - 0.25) * (0.5, 0.45, 0.42)[shape]
        faces = _box(p, hexahedron(x0, x1, 0.25, belt, z0, z1, (0.03, 0.03, 0.06, 0.06)), colour, label)
        lo, hi = (0.3, 0.18) if shape == 0 else ((0.22, 0.1) if shape == 1 else (0.18, 0.03))
        near_cut, far_cut = (hi, lo) if front_near else (lo, hi)
        slope = (0.06, 0.16) if front_near else (0.16, 0.06)
        sedan = shape == 0
        cab = hexahedron(
            x0 + 0.05,
            x1 - 0.05,
            belt,
            height,
            z0 + near_cut * length,
            z1 - far_cut * length,
            (0.13, 0.13, slope[1] * length * sedan + 0.1, slope[0] * length * sedan + 0.1),
        )
        for fid, face, n in _box(p, cab, colour, label):
            if fid != TOP:
                window = inset(face, 0.06, 0.94, 0.08, 0.9) if detail else inset(face, 0.0, 1.0, 0.0, 0.9)
                p.poly(window, GLASS + 0.1 * (fid == Z_MINUS), label, n, decal=True)
    elif t.kind == "truck":
        cab_len = 2.3
        if front_near:
            cab_z, box_z = (z0, z0 + cab_len), (z0 + cab_len + 0.2, z1)
        else:
            cab_z, box_z = (z1 - cab_len, z1), (z0, z1 - cab_len - 0.2)
        cargo = hexahedron(x0, x1, 0.7, height, box_z[0], box_z[1])
        cab = hexahedron(
            x0 + 0.05, x1 - 0.05, 0.5, min(height, 2.9) * 0.95, cab_z[0], cab_z[1], (0, 0, 0.2, 0.2)
        )
        parts = [(cab, True), (cargo, False)] if not front_near else [(cargo, False), (cab, True)]
        box_col = np.array([0.8, 0.8, 0.82], np.float32) if not front_near else colour
        for verts, is_cab in parts:
            faces = _box(p, verts, colour if is_cab else box_col, label)
            if is_cab:
                for fid, face, n in faces:
                    if fid != TOP:
                        p.poly(inset(face, 0.08, 0.92, 0.55, 0.9), GLASS, label, n, decal=True)
    else:  # bus
        faces = _box(p, hexahedron(x0, x1, 0.3, height, z0, z1, (0.05, 0.05, 0.1, 0.1)), colour, label)
        for fid, face, n in faces:
            if fid == Z_MINUS:
                p.poly(inset(face, 0.06, 0.94, 0.45, 0.92), GLASS, label, n, decal=True)
            elif fid != TOP:
                for k in range(6 if detail else 1):
                    span = (0.04 + k * 0.16, 0.18 + k * 0.16) if detail else (0.04, 0.96)
                    p.poly(inset(face, span[0], span[1], 0.5, 0.88), GLASS, label, n, decal=True)
    if not detail:
        return
    for fid, face, n in faces:
        if fid == Z_MINUS:  # lights and number plate on the face towards us
            lamp = np.array([0.95, 0.95, 0.85] if front_near else [0.75, 0.05, 0.04], np.float32)
            b0, b1 = (0.55, 0.85) if t.kind == "car" else (0.05, 0.15)
            p.glow(inset(face, 0.03, 0.2, b0, b1), lamp, label)
            p.glow(inset(face, 0.8, 0.97, b0, b1), lamp, label)
            p.poly(inset(face, 0.38, 0.62, 0.15, 0.4), (0.85, 0.85, 0.85), label, n, decal=True)
        elif fid != TOP and t.kind != "bus":  # wheels on the visible flank
            xs = face[0, 0]
            for zc in (ax0, ax1):
                p.poly(side_ellipse(xs, zc, r, r, r), TYRE, label, n)
                p.poly(side_ellipse(xs, zc, r, r * 0.55, r * 0.55, 10), METAL, label, n, decal=True)


def _figure(p: Painter, t: Thing, label: int, base_y: float = 0.0, seated: bool = False) -> None:
    """A person in the camera-facing plane: legs, torso, arms, head (detail by projected size)."""
    a = t.attrs
    h, w = a["height"], a["width"]
    x, z = t.x, t.z
    swing = float(np.sin(t.phase)) if t.phase >= 0 else 0.0
    top, legs, skin, hair = a["top"], a["legs"], a["skin"], a["hair"]
    hip = base_y + (0.0 if seated else 0.47 * h)
    shoulder = hip + (0.36 * h if seated else 0.34 * h)
    size = p.pixel_height(h)
    if size < 12:  # a few pixels: legs, body and head
        body = [
            [x - 0.38 * w, hip, z],
            [x + 0.38 * w, hip, z],
            [x + 0.5 * w, shoulder, z],
            [x - 0.5 * w, shoulder, z],
        ]
        p.poly(
            quad(x - 0.3 * w, x + 0.3 * w, base_y - (0.4 * h if seated else 0), hip + 0.02, z), legs, label
        )
        p.poly(np.array(body), top, label)
        p.poly(ellipse(x, shoulder + 0.09 * h, z, 0.065 * h, 0.08 * h, 8), hair, label)
        return
    leg_w = 0.17 * w
    if size < 24 and not seated:  # a couple of dozen pixels: two legs, body, arms as one, head
        for sgn, lift in ((-1, max(swing, 0.0)), (1, max(-swing, 0.0))):
            foot = base_y + 0.06 * h * lift
            p.poly(
                quad(x + sgn * 0.03 * w, x + sgn * (0.05 * w + leg_w * 1.1), foot, hip + 0.02, z), legs, label
            )
        shoulders = [
            [x - 0.4 * w, hip - 0.05 * h, z],
            [x + 0.4 * w, hip - 0.05 * h, z],
            [x + 0.55 * w, shoulder, z],
            [x - 0.55 * w, shoulder, z],
        ]
        p.poly(np.array(shoulders), top, label)
        p.poly(
            ellipse(x, shoulder + 0.1 * h, z, 0.06 * h, 0.075 * h, 8), hair if t.heading > 0 else skin, label
        )
        return
    if seated:  # legs bent down to the pedals
        for sgn, ph in ((-1, swing), (1, -swing)):
            knee = (x + sgn * 0.22 * w, hip - 0.12 * h + 0.05 * h * ph, z)
            p.poly(bar((x + sgn * 0.2 * w, hip, z), knee, leg_w * 1.3), legs, label)
            p.poly(bar(knee, (x + sgn * 0.2 * w, hip - 0.38 * h + 0.08 * h * ph, z), leg_w), legs, label)
    else:
        for sgn, lift in ((-1, max(swing, 0.0)), (1, max(-swing, 0.0))):
            foot = base_y + 0.06 * h * lift
            p.poly(
                np.array(
                    [
                        [x + sgn * 0.05 * w, foot, z],
                        [x + sgn * (0.05 * w + leg_w), foot, z],
                        [x + sgn * (0.06 * w + leg_w * 1.15), hip + 0.02, z],
                        [x, hip + 0.02, z],
                    ]
                ),
                legs,
                label,
            )
            p.poly(
                quad(x + sgn * 0.03 * w, x + sgn * (0.07 * w + leg_w), foot - 0.02, foot + 0.05, z),
                TYRE * 2,
                label,
            )
    waist = 0.36 * w + 0.03 * a["coat"]
    hem = hip - (0.18 * h if a["coat"] and not seated else 0.0)
    torso = [
        [x - waist, hem, z],
        [x + waist, hem, z],
        [x + 0.5 * w, shoulder - 0.03, z],
        [x + 0.42 * w, shoulder + 0.02, z],
        [x - 0.42 * w, shoulder + 0.02, z],
        [x - 0.5 * w, shoulder - 0.03, z],
    ]
    p.poly(np.array(torso), top, label)
    for sgn in (-1, 1):
        if seated:
            hand = (x + sgn * 0.35 * w, shoulder - 0.15 * h, z - 0.1)
        else:
            hand = (x + sgn * 0.55 * w, shoulder - 0.3 * h + 0.03 * h * swing * sgn, z)
        p.poly(bar((x + sgn * 0.44 * w, shoulder - 0.03, z), hand, 0.07 * h), top * 0.95, label)
        p.poly(ellipse(hand[0], hand[1], z, 0.022 * h, 0.03 * h, 6), skin, label)
    if a["bag"] and not seated:
        p.poly(quad(x + 0.5 * w, x + 0.68 * w, hip - 0.05 * h, hip + 0.1 * h, z), (0.25, 0.18, 0.12), label)
    p.poly(quad(x - 0.06 * w, x + 0.06 * w, shoulder, shoulder + 0.05 * h, z), skin, label)
    head_y = shoulder + 0.1 * h
    p.poly(ellipse(x, head_y, z, 0.058 * h, 0.072 * h, 12), hair if t.heading > 0 else skin, label)
    p.poly(ellipse(x, head_y + 0.03 * h, z, 0.06 * h, 0.048 * h, 10), hair, label)


def draw_person(p: Painter, t: Thing, sun: float) -> None:
    p.begin(t.z - p.cam.z, sun)
    _figure(p, t, TRAIN_ID["person"])


def draw_rider(p: Painter, t: Thing, sun: float) -> None:
    """A cyclist or motorcyclist seen from behind or ahead: thin wheel, handlebar, seated rider."""
    p.begin(t.z - p.cam.z, sun)
    motor = t.attrs.get("motor", False)
    label = TRAIN_ID["motorcycle" if motor else "bicycle"]
    x, z = t.x, t.z
    wheel_w = 0.12 if motor else 0.05
    p.poly(quad(x - wheel_w / 2, x + wheel_w / 2, 0.0, 0.68, z + 0.5), TYRE, label)  # far wheel behind
    if motor:
        p.poly(quad(x - 0.25, x + 0.25, 0.35, 0.8, z + 0.1), t.attrs["top"] * 0.6, label)
    p.poly(quad(x - 0.3, x + 0.3, 0.98, 1.02, z - 0.3), METAL * 0.5, label)
    _figure(p, t, TRAIN_ID["rider"], base_y=0.85, seated=True)
    p.poly(quad(x - wheel_w / 2, x + wheel_w / 2, 0.0, 0.66, z - 0.5), TYRE, label)


def draw_bicycle(p: Painter, t: Thing, sun: float) -> None:
    """A parked bicycle seen from the side (plane x = const): two rings and a frame."""
    x, z = t.x, t.z
    p.begin(z - 0.9 - p.cam.z, sun)
    label = TRAIN_ID["bicycle"]
    n = (float(np.sign(p.cam.x - x) or 1.0), 0.0, 0.0)
    r = 0.34
    for zc in (z - 0.52, z + 0.52):
        p.polys(
            [side_ellipse(x, zc, r, r, r, 16), side_ellipse(x, zc, r, r * 0.85, r * 0.85, 16)], TYRE, label, n
        )
    pts = {
        "rear": (x, r, z - 0.52),
        "front": (x, r, z + 0.52),
        "crank": (x, r, z - 0.05),
        "seat": (x, 0.95, z - 0.2),
        "head": (x, 0.92, z + 0.38),
    }
    frame = t.attrs["colour"]
    for a_, b_ in (
        ("rear", "crank"),
        ("crank", "seat"),
        ("seat", "rear"),
        ("crank", "head"),
        ("seat", "head"),
        ("head", "front"),
    ):
        p.poly(bar(pts[a_], pts[b_], 0.04, z_facing=False), frame, label, n)
    p.poly(bar((x, 0.97, z - 0.3), (x, 0.97, z - 0.08), 0.05, z_facing=False), TYRE, label, n)


def _pole(p: Painter, x: float, z: float, radius: float, y0: float, y1: float, colour) -> None:
    """A cylinder seen side-on: two vertical halves shaded by their own normals."""
    p.poly(quad(x - radius, x, y0, y1, z), colour, POLE_LABEL, CYL_LEFT)
    p.poly(quad(x, x + radius, y0, y1, z), colour, POLE_LABEL, CYL_RIGHT)


def draw_lamp(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    p.begin(t.z - p.cam.z, sun)
    colour = np.array([0.38, 0.4, 0.42], np.float32)
    _pole(p, t.x, t.z, a["radius"] * 1.3, 0.0, 0.6, colour * 0.8)
    _pole(p, t.x, t.z, a["radius"], 0.0, a["height"], colour)
    end = t.x - a["side"] * a["arm"]
    h = a["height"]
    arm = [[t.x, h - 0.25, t.z], [end, h - 0.02, t.z], [end, h + 0.05, t.z], [t.x, h - 0.1, t.z]]
    p.poly(np.array(arm), colour, POLE_LABEL)
    p.poly(quad(end - 0.3, end + 0.3, h - 0.12, h + 0.05, t.z), colour * 0.8, POLE_LABEL)


SIGN_COLOURS = {
    "red": (0.75, 0.08, 0.08),
    "white": (0.9, 0.9, 0.88),
    "blue": (0.08, 0.25, 0.65),
    "yellow": (0.95, 0.78, 0.1),
    "black": (0.08, 0.08, 0.08),
    "grey": (0.55, 0.56, 0.57),
    "green": (0.05, 0.45, 0.25),
}
SIGN_SCHEMES = {  # outer, inner, symbol
    "circle": ("red", "white", "black"),
    "triangle": ("red", "white", "black"),
    "octagon": ("red", "red", "white"),
    "diamond": ("white", "yellow", "yellow"),
    "circle_blue": ("blue", "blue", "white"),
}


def _sign_shape(shape: str, cx: float, cy: float, z: float, r: float, aspect: float) -> np.ndarray:
    if shape in ("circle", "circle_blue"):
        return ellipse(cx, cy, z, r, r, 18)
    if shape == "triangle":
        return np.array([[cx - r, cy - 0.7 * r, z], [cx + r, cy - 0.7 * r, z], [cx, cy + r, z]])
    if shape == "octagon":
        return ellipse(cx, cy, z, r, r, 8)
    if shape == "diamond":
        return np.array([[cx, cy - r, z], [cx + r, cy, z], [cx, cy + r, z], [cx - r, cy, z]])
    return quad(cx - r * aspect, cx + r * aspect, cy - r, cy + r, z)


def _panel(p: Painter, a: dict, cx: float, cy: float, z: float) -> None:
    label = TRAIN_ID["traffic_sign"]
    shape, r, aspect = a["shape"], a["size"] / 2, a["aspect"]
    if not a["front"]:
        p.poly(_sign_shape(shape, cx, cy, z, r, aspect), SIGN_COLOURS["grey"], label)
        return
    scheme = SIGN_SCHEMES.get(shape) or ("white", ("blue", "green", "white")[round(aspect * 7) % 3], "white")
    outer, inner, mark = (SIGN_COLOURS[c] for c in scheme)
    p.poly(_sign_shape(shape, cx, cy, z, r, aspect), outer, label)
    if p.pixel_height(r) > 2:
        lift = 0.08 * r if shape == "triangle" else 0.0
        p.poly(_sign_shape(shape, cx, cy + lift, z, r * 0.78, aspect * 1.05), inner, label, decal=True)
    if p.pixel_height(r) > 6:
        p.poly(quad(cx - 0.35 * r, cx + 0.35 * r, cy - 0.12 * r, cy + 0.12 * r, z), mark, label, decal=True)


def draw_sign(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    p.begin(t.z - p.cam.z, sun)
    top = a["bottom"] + a["size"]
    if a.get("pole", True):
        _pole(p, t.x, t.z + 0.05, a["radius"], 0.0, top + (a["size"] if a["second"] else 0), (0.5, 0.5, 0.52))
    _panel(p, a, t.x, a["bottom"] + a["size"] / 2, t.z)
    if a["second"]:
        _panel(p, dict(a, shape="rect", aspect=1.3, size=a["size"] * 0.55), t.x, top + a["size"] * 0.4, t.z)


def draw_traffic_light(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    p.begin(t.z - p.cam.z, sun)
    label = TRAIN_ID["traffic_light"]
    x, h = t.x, a["height"]
    grey = (0.35, 0.36, 0.36)
    mast = 5.6 if a["overhead"] else h
    _pole(p, x, t.z + 0.1, a["radius"], 0.0, mast + (0.2 if a["overhead"] else 0), grey)
    boxes = [(x, h)]
    if a["overhead"]:
        end = x - np.sign(x) * a["arm"]
        p.poly(quad(min(x, end), max(x, end), mast, mast + 0.12, t.z + 0.1), grey, POLE_LABEL)
        boxes.append((end + np.sign(x) * 0.5, mast - 1.0))
    for bx, by in boxes:
        p.poly(quad(bx - 0.17, bx + 0.17, by, by + 0.92, t.z), (0.1, 0.1, 0.09), label)
        if not a["front"] or p.pixel_height(0.9) < 6:
            continue
        for k, rgb in enumerate(((0.9, 0.1, 0.05), (0.95, 0.7, 0.05), (0.1, 0.9, 0.5))):
            disc = ellipse(bx, by + 0.16 + 0.3 * (2 - k), t.z - 0.01, 0.1, 0.1, 10)
            if k == 2 - a["lit"]:
                p.glow(disc, rgb, label)
            else:
                p.poly(disc, np.array(rgb) * 0.15, label, decal=True)


@lru_cache(maxsize=256)
def _foliage_grid(key: int) -> np.ndarray:
    rng = stream(key, "foliage")
    g = 1.0 + 0.3 * value_noise(rng, (64, 64), 3) + 0.25 * value_noise(rng, (64, 64), 1.2)
    return np.clip(g, 0.45, 1.5).astype(np.float32)


def draw_tree(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    p.begin(t.z - p.cam.z, sun)
    trunk_top = a["trunk"] + a["radius"]
    trunk = [
        [t.x - 0.16, 0, t.z],
        [t.x + 0.16, 0, t.z],
        [t.x + 0.09, trunk_top, t.z],
        [t.x - 0.09, trunk_top, t.z],
    ]
    p.poly(np.array(trunk), (0.25, 0.2, 0.15), VEG)
    size = p.pixel_height(a["radius"])
    blobs = a["blobs"] if size > 10 else a["blobs"][: 5 if size > 3 else 3]  # small canopies: fewer blobs
    ragged = size > 10
    sun_x = float(p.light.sun_dir[0])
    polys = []
    for (bx, by, br, bright), jitter in zip(blobs, a["jitter"], strict=False):
        poly = ellipse(
            t.x + bx, by, t.z - 0.01, br, br * 0.9, 16 if ragged else 10, jitter if ragged else None
        )
        up = 0.75 + 0.35 * (by - a["trunk"]) / (2 * a["radius"])  # lit from above
        side = 1.0 + 0.15 * np.sign(bx) * sun_x
        p.poly(poly, a["colour"] * (bright * up * side * 0.9), VEG, (0.0, 1.0, 0.0))
        polys.append(poly)
    if size > 25:
        r = a["radius"] * 2.2
        centre = a["trunk"] + a["radius"]
        modulate(
            p,
            polys,
            _foliage_grid(a["key"]),
            np.array([[t.x - r, centre + r, t.z], [t.x + r, centre - r, t.z]]),
        )


def draw_barrier(p: Painter, t: Thing, sun: float) -> None:
    """Wall, fence or hedge along a gap between buildings (plane |x| = building line)."""
    a = t.attrs
    x, z0, z1, h = t.x, t.z, t.z + a["length"], a["height"]
    p.begin(z0 - p.cam.z, sun)
    n = (-float(np.sign(x)), 0.0, 0.0)
    side = np.array([[x, 0, z0], [x, 0, z1], [x, h, z1], [x, h, z0]])
    if t.kind == "wall":
        c = np.array([0.6, 0.58, 0.55]) * (0.8 + 0.3 * (a["length"] % 1))
        p.poly(side, c, TRAIN_ID["wall"], n)
        p.poly(
            np.array([[x, h - 0.12, z0], [x, h - 0.12, z1], [x, h, z1], [x, h, z0]]),
            c * 1.2,
            TRAIN_ID["wall"],
            n,
        )
    elif t.kind == "hedge":
        faces = _box(p, hexahedron(x - 0.4, x + 0.4, 0.0, h, z0, z1), (0.16, 0.28, 0.09), VEG)
        if p.pixel_height(h) > 10:
            modulate(
                p,
                [f for _, f, _ in faces],
                _foliage_grid(int(a["length"] * 1000)),
                np.array([[x, h, z0], [x, 0, z1]]),
            )
    else:  # fence: rails and pickets; the label covers the fence's extent, see-through gaps included
        p.flush()
        px = p.to_pixels(side)
        if px is None:
            return
        cv2.fillPoly(p.labels, [px], TRAIN_ID["fence"], cv2.LINE_8, SHIFT)
        colour = tuple(float(c) for c in p.colour((0.3, 0.3, 0.3), n))
        rails = [
            np.array([[x, y, z0], [x, y, z1], [x, y + 0.06, z1], [x, y + 0.06, z0]]) for y in (0.15, h - 0.08)
        ]
        step = max(0.14, 0.14 * (z0 - p.cam.z) / 15)  # far pickets merge into a haze of bars anyway
        pickets = [
            np.array([[x, 0, zz], [x, 0, zz + 0.04], [x, h, zz + 0.04], [x, h, zz]])
            for zz in np.arange(z0, z1, step)
        ]
        for poly in rails + pickets:
            q = p.to_pixels(poly)
            if q is not None:
                cv2.fillPoly(p.image, [q], colour, cv2.LINE_8, SHIFT)


DRAW = {
    "car": draw_vehicle,
    "truck": draw_vehicle,
    "bus": draw_vehicle,
    "person": draw_person,
    "rider": draw_rider,
    "bicycle": draw_bicycle,
    "lamp": draw_lamp,
    "sign": draw_sign,
    "light": draw_traffic_light,
    "tree": draw_tree,
    "wall": draw_barrier,
    "fence": draw_barrier,
    "hedge": draw_barrier,
}
