"""How each kind of object is drawn, as world-space polygons (see painter.py).

Sizes are physical, so projected size falls with 1/distance and small, distant
objects cover only a few pixels. Below a few pixels of height objects drop their
small details (level of detail), which also keeps far crowds cheap.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cloudseg_ros.scene.labels import TRAIN_ID
from cloudseg_ros.scene.painter import (
    TOP,
    Z_MINUS,
    Painter,
    ellipse,
    hexahedron,
    inset,
    modulate,
    quad,
    segment_quad,
    side_ellipse,
    visible_faces,
)
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.textures import value_noise
from cloudseg_ros.scene.things import Thing

FACING = (0.0, 0.0, -1.0)  # normal of camera-facing billboards
GLASS = np.array([0.09, 0.11, 0.14], np.float32)
TYRE = np.array([0.04, 0.04, 0.045], np.float32)
METAL = np.array([0.42, 0.43, 0.45], np.float32)
POLE_LABEL = TRAIN_ID["pole"]
VEG = TRAIN_ID["vegetation"]


def _box(p: Painter, verts: np.ndarray, colour, label: int, depth: float, sun: float) -> list:
    faces = visible_faces(verts, p.cam_pos)
    for _, face, n in faces:
        p.poly(face, p.shade(colour, n, depth, sun), label)
    return faces


def draw_vehicle(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    length, width, height = a["length"], a["width"], a["height"]
    x0, x1, z0, z1 = t.x - width / 2, t.x + width / 2, t.z - length / 2, t.z + length / 2
    depth = max(z0 - p.cam.z, 0.5)
    label = TRAIN_ID[t.kind]
    detail = p.pixel_height(height, depth) > 14
    colour = a["colour"]
    front_near = t.heading < 0  # an oncoming vehicle shows us its front
    ax0, ax1 = z0 + min(1.0, 0.2 * length), z1 - min(1.0, 0.2 * length)
    r = 0.34 if t.kind == "car" else 0.5
    # wheels and dark underbody, seen below the body
    for xa, xb in ((x0 + 0.03, x0 + 0.3), (x1 - 0.3, x1 - 0.03)):
        p.poly(quad(xa, xb, 0.0, 2 * r * 0.9, ax0 + 0.3), p.shade(TYRE, FACING, depth, sun), label)
    p.poly(quad(x0 + 0.1, x1 - 0.1, 0.1, 0.35, z0 + 0.5), p.shade(TYRE * 2, FACING, depth, 0), label)
    if t.kind == "car":
        shape = a.get("shape", 0)
        belt = 0.25 + (height - 0.25) * (0.5, 0.45, 0.42)[shape]
        body = hexahedron(x0, x1, 0.25, belt, z0, z1, (0.03, 0.03, 0.06, 0.06))
        faces = _box(p, body, colour, label, depth, sun)
        lo, hi = (0.3, 0.18) if shape == 0 else ((0.22, 0.1) if shape == 1 else (0.18, 0.03))
        near_cut, far_cut = (hi, lo) if front_near else (lo, hi)
        slope = (0.16, 0.06) if not front_near else (0.06, 0.16)
        cab = hexahedron(
            x0 + 0.05,
            x1 - 0.05,
            belt,
            height,
            z0 + near_cut * length,
            z1 - far_cut * length,
            (0.13, 0.13, slope[1] * length * (shape == 0) + 0.1, slope[0] * length * (shape == 0) + 0.1),
        )
        for fid, face, n in _box(p, cab, colour, label, depth, sun):
            if fid != TOP and detail:
                p.poly(
                    inset(face, 0.06, 0.94, 0.08, 0.9),
                    p.shade(GLASS + 0.1 * (fid == Z_MINUS), n, depth, sun),
                    label,
                )
            elif fid != TOP:
                p.poly(inset(face, 0.0, 1.0, 0.0, 0.9), p.shade(GLASS, n, depth, sun), label)
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
        order = [(cab, True), (cargo, False)] if not front_near else [(cargo, False), (cab, True)]
        body_col = np.array([0.8, 0.8, 0.82], np.float32) if not front_near else colour
        for verts, is_cab in order:
            faces = _box(p, verts, colour if is_cab else body_col, label, depth, sun)
            if is_cab and detail:
                for fid, face, n in faces:
                    if fid != TOP:
                        p.poly(inset(face, 0.08, 0.92, 0.55, 0.9), p.shade(GLASS, n, depth, sun), label)
    else:  # bus
        verts = hexahedron(x0, x1, 0.3, height, z0, z1, (0.05, 0.05, 0.1, 0.1))
        faces = _box(p, verts, colour, label, depth, sun)
        if detail:
            for fid, face, n in faces:
                if fid == TOP:
                    continue
                if fid == Z_MINUS:
                    p.poly(inset(face, 0.06, 0.94, 0.45, 0.92), p.shade(GLASS, n, depth, sun), label)
                else:
                    for k in range(6):
                        p.poly(
                            inset(face, 0.04 + k * 0.16, 0.18 + k * 0.16, 0.5, 0.88),
                            p.shade(GLASS, n, depth, sun),
                            label,
                        )
    if not detail:
        return
    for fid, face, n in faces:
        if fid == Z_MINUS:  # lights and plate on the face towards us
            lamp = np.array([0.95, 0.95, 0.85] if front_near else [0.75, 0.05, 0.04], np.float32)
            b0, b1 = (0.55, 0.85) if t.kind == "car" else (0.05, 0.15)
            p.poly(inset(face, 0.03, 0.2, b0, b1), p.glow(lamp, depth), label)
            p.poly(inset(face, 0.8, 0.97, b0, b1), p.glow(lamp, depth), label)
            p.poly(inset(face, 0.38, 0.62, 0.15, 0.4), p.shade(np.full(3, 0.85), n, depth, sun), label)
        elif fid != TOP and t.kind != "bus":  # wheels on the visible flank
            xs = face[0, 0]
            for zc in (ax0, ax1):
                p.poly(side_ellipse(xs, zc, r, r, r), p.shade(TYRE, n, depth, sun), label)
                p.poly(side_ellipse(xs, zc, r, r * 0.55, r * 0.55, 10), p.shade(METAL, n, depth, sun), label)


def _figure(p: Painter, t: Thing, sun: float, label: int, base_y: float = 0.0, seated: bool = False) -> None:
    """A person in the camera-facing plane: legs, torso, arms, head (detail by projected size)."""
    a = t.attrs
    h, w = a["height"], a["width"]
    x, z = t.x, t.z
    depth = max(z - p.cam.z, 0.5)
    px = p.pixel_height(h, depth)
    walking = t.phase >= 0
    swing = np.sin(t.phase) if walking else 0.0
    top = p.shade(a["top"], FACING, depth, sun)
    legs = p.shade(a["legs"], FACING, depth, sun)
    skin = p.shade(a["skin"], FACING, depth, sun)
    hip = base_y + (0.0 if seated else 0.47 * h)
    shoulder = hip + (0.34 * h if not seated else 0.36 * h)
    if px < 10:  # a few pixels: body and head only
        p.poly(
            np.array(
                [
                    [x - 0.2 * w, base_y, z],
                    [x + 0.2 * w, base_y, z],
                    [x + 0.5 * w, shoulder, z],
                    [x - 0.5 * w, shoulder, z],
                ]
            ),
            top,
            label,
        )
        p.poly(
            quad(x - 0.2 * w, x + 0.2 * w, base_y if not seated else base_y - 0.4 * h, hip, z), legs, label
        )
        p.poly(ellipse(x, shoulder + 0.09 * h, z, 0.065 * h, 0.08 * h, 8), skin, label)
        return
    leg_w = 0.17 * w
    if seated:  # legs bent down to the pedals
        for sgn, ph in ((-1, swing), (1, -swing)):
            knee = np.array([x + sgn * 0.22 * w, hip - 0.12 * h + 0.05 * h * ph, z])
            p.poly(segment_quad(np.array([x + sgn * 0.2 * w, hip, z]), knee, leg_w * 1.3), legs, label)
            foot = np.array([x + sgn * 0.2 * w, hip - 0.38 * h + 0.08 * h * ph, z])
            p.poly(segment_quad(knee, foot, leg_w), legs, label)
    else:
        for sgn, lift in ((-1, max(swing, 0.0)), (1, max(-swing, 0.0))):
            foot_y = base_y + 0.06 * h * lift
            p.poly(
                np.array(
                    [
                        [x + sgn * 0.05 * w, foot_y, z],
                        [x + sgn * (0.05 * w + leg_w), foot_y, z],
                        [x + sgn * (0.06 * w + leg_w * 1.15), hip + 0.02, z],
                        [x + sgn * 0.0, hip + 0.02, z],
                    ]
                ),
                legs,
                label,
            )
            p.poly(
                quad(x + sgn * 0.03 * w, x + sgn * (0.07 * w + leg_w), foot_y - 0.02, foot_y + 0.05, z),
                p.shade(TYRE * 2, FACING, depth, sun),
                label,
            )
    waist = 0.36 * w
    hem = hip - (0.18 * h if a["coat"] and not seated else 0.0)
    p.poly(
        np.array(
            [
                [x - waist - 0.03 * a["coat"], hem, z],
                [x + waist + 0.03 * a["coat"], hem, z],
                [x + 0.5 * w, shoulder - 0.03, z],
                [x + 0.42 * w, shoulder + 0.02, z],
                [x - 0.42 * w, shoulder + 0.02, z],
                [x - 0.5 * w, shoulder - 0.03, z],
            ]
        ),
        top,
        label,
    )
    for sgn in (-1, 1):
        hand = np.array([x + sgn * 0.55 * w, shoulder - 0.3 * h + (0.03 * h * swing * sgn), z])
        if seated:
            hand = np.array([x + sgn * 0.35 * w, shoulder - 0.15 * h, z - 0.1])
        p.poly(
            segment_quad(np.array([x + sgn * 0.44 * w, shoulder - 0.03, z]), hand, 0.07 * h),
            top * 0.95,
            label,
        )
        p.poly(ellipse(hand[0], hand[1], z, 0.022 * h, 0.03 * h, 6), skin, label)
    if a["bag"] and not seated:
        p.poly(
            quad(x + 0.5 * w, x + 0.68 * w, hip - 0.05 * h, hip + 0.1 * h, z),
            p.shade(np.array([0.25, 0.18, 0.12]), FACING, depth, sun),
            label,
        )
    p.poly(quad(x - 0.06 * w, x + 0.06 * w, shoulder, shoulder + 0.05 * h, z), skin, label)
    head_y = shoulder + 0.1 * h
    back_view = t.heading > 0
    p.poly(
        ellipse(x, head_y, z, 0.058 * h, 0.072 * h, 12),
        skin if not back_view else p.shade(a["hair"], FACING, depth, sun),
        label,
    )
    p.poly(
        ellipse(x, head_y + 0.03 * h, z, 0.06 * h, 0.048 * h, 10),
        p.shade(a["hair"], FACING, depth, sun),
        label,
    )


def draw_person(p: Painter, t: Thing, sun: float) -> None:
    _figure(p, t, sun, TRAIN_ID["person"])


def draw_rider(p: Painter, t: Thing, sun: float) -> None:
    """A cyclist or motorcyclist seen from behind or ahead: thin wheel, handlebar, seated rider."""
    motor = t.attrs.get("motor", False)
    label = TRAIN_ID["motorcycle" if motor else "bicycle"]
    depth = max(t.z - p.cam.z, 0.5)
    x, z = t.x, t.z
    dark = p.shade(TYRE, FACING, depth, sun)
    wheel_w = 0.12 if motor else 0.05
    p.poly(quad(x - wheel_w / 2, x + wheel_w / 2, 0.0, 0.68, z + 0.5), dark, label)  # far wheel behind
    if motor:
        p.poly(
            quad(x - 0.25, x + 0.25, 0.35, 0.8, z + 0.1),
            p.shade(t.attrs["top"] * 0.6, FACING, depth, sun),
            label,
        )
    p.poly(quad(x - 0.3, x + 0.3, 0.98, 1.02, z - 0.3), p.shade(METAL * 0.5, FACING, depth, sun), label)
    _figure(p, t, sun, TRAIN_ID["rider"], base_y=0.85, seated=True)
    p.poly(quad(x - wheel_w / 2, x + wheel_w / 2, 0.0, 0.66, z - 0.5), dark, label)


def draw_bicycle(p: Painter, t: Thing, sun: float) -> None:
    """A parked bicycle seen from the side (plane x = const): two rings and a frame."""
    x, z = t.x, t.z
    depth = max(z - p.cam.z, 0.5)
    label = TRAIN_ID["bicycle"]
    n = (np.sign(p.cam.x - x) or 1.0, 0.0, 0.0)
    dark = p.shade(TYRE, n, depth, 1.0)
    frame = p.shade(t.attrs["colour"], n, depth, 1.0)
    r = 0.34
    for zc in (z - 0.52, z + 0.52):
        p.polys(
            [side_ellipse(x, zc, r, r, r, 16), side_ellipse(x, zc, r, r * 0.85, r * 0.85, 16)], dark, label
        )
    pts = {
        "rear": np.array([x, r, z - 0.52]),
        "front": np.array([x, r, z + 0.52]),
        "crank": np.array([x, r, z - 0.05]),
        "seat": np.array([x, 0.95, z - 0.2]),
        "head": np.array([x, 0.92, z + 0.38]),
    }
    for a_, b_ in (
        ("rear", "crank"),
        ("crank", "seat"),
        ("seat", "rear"),
        ("crank", "head"),
        ("seat", "head"),
        ("head", "front"),
    ):
        p.poly(segment_quad(pts[a_], pts[b_], 0.04, z_facing=False), frame, label)
    p.poly(
        segment_quad(pts["seat"] + [0, 0.02, -0.1], pts["seat"] + [0, 0.02, 0.12], 0.05, z_facing=False),
        dark,
        label,
    )


def _pole(
    p: Painter, x: float, z: float, radius: float, y0: float, y1: float, colour, depth: float, sun: float
) -> None:
    """A cylinder seen side-on: two vertical halves, the sun side brighter."""
    right = max(0.0, float(p.light.sun_dir[0]))
    left = max(0.0, float(-p.light.sun_dir[0]))
    lt = p.light
    for x0, x1, k in ((x - radius, x, left), (x, x + radius, right)):
        fog = float(lt.fog(depth))
        c = np.asarray(colour) * (lt.ambient + lt.sun * (0.3 + 0.7 * k) * sun)
        p.poly(quad(x0, x1, y0, y1, z), c * (1 - fog) + lt.haze * fog, POLE_LABEL)


def draw_lamp(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    depth = max(t.z - p.cam.z, 0.5)
    colour = np.array([0.38, 0.4, 0.42], np.float32)
    _pole(p, t.x, t.z, a["radius"] * 1.3, 0.0, 0.6, colour * 0.8, depth, sun)
    _pole(p, t.x, t.z, a["radius"], 0.0, a["height"], colour, depth, sun)
    towards = -a["side"]
    end = t.x + towards * a["arm"]
    h = a["height"]
    p.poly(
        np.array([[t.x, h - 0.25, t.z], [end, h - 0.02, t.z], [end, h + 0.05, t.z], [t.x, h - 0.1, t.z]]),
        p.shade(colour, FACING, depth, sun),
        POLE_LABEL,
    )
    p.poly(
        quad(end - 0.3, end + 0.3, h - 0.12, h + 0.05, t.z),
        p.shade(colour * 0.8, FACING, depth, sun),
        POLE_LABEL,
    )


SIGN_COLOURS = {
    "red": (0.75, 0.08, 0.08),
    "white": (0.9, 0.9, 0.88),
    "blue": (0.08, 0.25, 0.65),
    "yellow": (0.95, 0.78, 0.1),
    "black": (0.08, 0.08, 0.08),
    "grey": (0.55, 0.56, 0.57),
    "green": (0.05, 0.45, 0.25),
}


def _sign_shape(shape: str, cx: float, cy: float, z: float, r: float, aspect: float) -> np.ndarray:
    if shape in ("circle", "circle_blue"):
        return ellipse(cx, cy, z, r, r, 18)
    if shape == "triangle":
        return np.array([[cx - r, cy - 0.7 * r, z], [cx + r, cy - 0.7 * r, z], [cx, cy + r, z]])
    if shape == "octagon":
        a = np.linspace(0, 2 * np.pi, 8, endpoint=False) + np.pi / 8
        return np.stack([cx + r * np.cos(a), cy + r * np.sin(a), np.full(8, z)], axis=1)
    if shape == "diamond":
        return np.array([[cx, cy - r, z], [cx + r, cy, z], [cx, cy + r, z], [cx - r, cy, z]])
    return quad(cx - r * aspect, cx + r * aspect, cy - r, cy + r, z)


def _panel(p: Painter, a: dict, cx: float, cy: float, z: float, depth: float, sun: float) -> None:
    label = TRAIN_ID["traffic_sign"]
    shape, r = a["shape"], a["size"] / 2
    aspect = a["aspect"]
    if not a["front"]:
        p.poly(
            _sign_shape(shape, cx, cy, z, r, aspect),
            p.shade(np.array(SIGN_COLOURS["grey"]), FACING, depth, sun),
            label,
        )
        return
    scheme = {
        "circle": ("red", "white", "black"),
        "triangle": ("red", "white", "black"),
        "octagon": ("red", "red", "white"),
        "diamond": ("white", "yellow", "yellow"),
        "circle_blue": ("blue", "blue", "white"),
        "rect": ("white", ("blue", "green", "white")[round(aspect * 7) % 3], "white"),
    }[shape]
    outer, inner, mark = (p.shade(np.array(SIGN_COLOURS[c]), FACING, depth, sun) for c in scheme)
    p.poly(_sign_shape(shape, cx, cy, z, r, aspect), outer, label)
    p.poly(
        _sign_shape(shape, cx, cy + (0.08 * r if shape == "triangle" else 0), z, r * 0.78, aspect * 1.05),
        inner,
        label,
    )
    if p.pixel_height(r, depth) > 6:
        p.poly(quad(cx - 0.35 * r, cx + 0.35 * r, cy - 0.12 * r, cy + 0.12 * r, z), mark, label)


def draw_sign(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    depth = max(t.z - p.cam.z, 0.5)
    top = a["bottom"] + a["size"]
    _pole(
        p,
        t.x,
        t.z + 0.05,
        a["radius"],
        0.0,
        top + (a["size"] if a["second"] else 0),
        np.array([0.5, 0.5, 0.52]),
        depth,
        sun,
    )
    _panel(p, a, t.x, a["bottom"] + a["size"] / 2, t.z, depth, sun)
    if a["second"]:
        second = dict(a, shape="rect", aspect=1.3, size=a["size"] * 0.55)
        _panel(p, second, t.x, top + a["size"] * 0.4, t.z, depth, sun)


def draw_traffic_light(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    depth = max(t.z - p.cam.z, 0.5)
    label = TRAIN_ID["traffic_light"]
    housing = np.array([0.1, 0.1, 0.09], np.float32)
    x, h = t.x, a["height"]
    mast_h = 5.6 if a["overhead"] else h
    _pole(
        p,
        x,
        t.z + 0.1,
        a["radius"],
        0.0,
        mast_h + (0.2 if a["overhead"] else 0),
        np.array([0.35, 0.36, 0.36]),
        depth,
        sun,
    )
    boxes = [(x, h)]
    if a["overhead"]:
        end = x - np.sign(x) * a["arm"]
        p.poly(
            quad(min(x, end), max(x, end), mast_h, mast_h + 0.12, t.z + 0.1),
            p.shade(np.array([0.35, 0.36, 0.36]), FACING, depth, sun),
            POLE_LABEL,
        )
        boxes.append((end + np.sign(x) * 0.5, mast_h - 1.0))
    for bx, by in boxes:
        p.poly(quad(bx - 0.17, bx + 0.17, by, by + 0.92, t.z), p.shade(housing, FACING, depth, sun), label)
        if not a["front"] or p.pixel_height(0.9, depth) < 6:
            continue
        for k, rgb in enumerate(((0.9, 0.1, 0.05), (0.95, 0.7, 0.05), (0.1, 0.9, 0.5))):
            on = k == 2 - a["lit"]
            c = p.glow(np.array(rgb), depth) if on else p.shade(np.array(rgb) * 0.15, FACING, depth, sun)
            p.poly(ellipse(bx, by + 0.16 + 0.3 * (2 - k), t.z - 0.01, 0.1, 0.1, 10), c, label)


@lru_cache(maxsize=256)
def _foliage_grid(key: int) -> np.ndarray:
    rng = stream(key, "foliage")
    g = 1.0 + 0.3 * value_noise(rng, (64, 64), 3) + 0.25 * value_noise(rng, (64, 64), 1.2)
    return np.clip(g, 0.45, 1.5).astype(np.float32)


def draw_tree(p: Painter, t: Thing, sun: float) -> None:
    a = t.attrs
    depth = max(t.z - p.cam.z, 0.5)
    trunk_top = a["trunk"] + a["radius"]
    p.poly(
        np.array(
            [
                [t.x - 0.16, 0, t.z],
                [t.x + 0.16, 0, t.z],
                [t.x + 0.09, trunk_top, t.z],
                [t.x - 0.09, trunk_top, t.z],
            ]
        ),
        p.shade(np.array([0.25, 0.2, 0.15]), FACING, depth, sun),
        VEG,
    )
    rng = stream(a["key"], "canopy")
    polys = []
    lt = p.light
    for bx, by, br, bright in a["blobs"]:
        jitter = 1.0 + 0.18 * rng.uniform(-1, 1, 16)
        poly = ellipse(t.x + bx, by, t.z - 0.01, br, br * 0.9, 16, jitter)
        up = 0.75 + 0.35 * (by - a["trunk"]) / (2 * a["radius"])  # lit from above
        side = 1.0 + 0.15 * np.sign(bx) * float(lt.sun_dir[0])
        p.poly(poly, p.shade(a["colour"] * bright * up * side, (0, 1, 0), depth, sun) * 0.9, VEG)
        polys.append(poly)
    if p.pixel_height(a["radius"], depth) > 12:
        r = a["radius"] * 2.2
        box = np.array(
            [[t.x - r, a["trunk"] + a["radius"] + r, t.z], [t.x + r, a["trunk"] + a["radius"] - r, t.z]]
        )
        modulate(p, polys, _foliage_grid(a["key"]), box)


def draw_barrier(p: Painter, t: Thing, sun: float) -> None:
    """Wall, fence or hedge along a gap between buildings (plane |x| = building line)."""
    a = t.attrs
    x, z0, z1, h = t.x, t.z, t.z + a["length"], a["height"]
    depth = max(z0 - p.cam.z, 0.5)
    n = (-float(np.sign(x)), 0.0, 0.0)
    side = np.array([[x, 0, z0], [x, 0, z1], [x, h, z1], [x, h, z0]])
    if t.kind == "wall":
        c = np.array([0.6, 0.58, 0.55]) * (0.8 + 0.3 * (a["length"] % 1))
        p.poly(side, p.shade(c, n, depth, sun), TRAIN_ID["wall"])
        p.poly(
            np.array([[x, h - 0.12, z0], [x, h - 0.12, z1], [x, h, z1], [x, h, z0]]),
            p.shade(c * 1.2, n, depth, sun),
            TRAIN_ID["wall"],
        )
    elif t.kind == "hedge":
        verts = hexahedron(x - 0.4, x + 0.4, 0.0, h, z0, z1)
        green = np.array([0.16, 0.28, 0.09])
        faces = _box(p, verts, green, VEG, depth, sun)
        if p.pixel_height(h, depth) > 10:
            box = np.array([[x, h, z0], [x, 0, z1]])
            modulate(p, [f for _, f, _ in faces], _foliage_grid(int(a["length"] * 1000)), box)
    else:  # fence: rails and pickets; the label covers the fence's extent, see-through gaps included
        label = TRAIN_ID["fence"]
        c = p.shade(np.array([0.3, 0.3, 0.3]), n, depth, sun)
        px = p.to_pixels(side)
        if px is None:
            return
        import cv2

        from cloudseg_ros.scene.painter import SHIFT

        cv2.fillPoly(p.labels, [px], label, cv2.LINE_8, SHIFT)
        rails = [
            np.array([[x, y, z0], [x, y, z1], [x, y + 0.06, z1], [x, y + 0.06, z0]]) for y in (0.15, h - 0.08)
        ]
        pickets = [
            np.array([[x, 0, zz], [x, 0, zz + 0.04], [x, h, zz + 0.04], [x, h, zz]])
            for zz in np.arange(z0, z1, 0.14)
        ]
        for poly in rails + pickets:
            q = p.to_pixels(poly)
            if q is not None:
                cv2.fillPoly(p.image, [q], tuple(float(v) for v in c), cv2.LINE_8, SHIFT)


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
