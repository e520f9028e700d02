"""The ground plane: road, markings, curbs, sidewalks and grass, by ray casting.

With the image plane parallel to the road direction, a ground row has a single
depth, and world x along the row is linear in the column. The street's cross
section is a 1-D table over world x (1 cm bins): one table row per *variant*
(plain, dashed markings, zebra crossing, stop line, cross street) and per
prefilter level (wider box blur for distant rows, so thin markings fade instead
of flickering). A frame therefore costs two ``cv2.remap`` lookups into the table
plus one into the world-anchored material textures.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise

import cv2
import numpy as np

from cloudseg_ros.scene.camera import Camera, pixel_centres
from cloudseg_ros.scene.labels import TRAIN_ID
from cloudseg_ros.scene.style import CURB, CityStyle, Lighting, city_style
from cloudseg_ros.scene.textures import GROUND_LEVELS, GROUND_RES, GROUND_TILE, ground_atlas
from cloudseg_ros.scene.world import SEG_LEN, cross_street

X_MIN, X_MAX = -60.0, 60.0
NB = round((X_MAX - X_MIN) / GROUND_RES)
PLAIN, DASH, ZEBRA, STOP, CROSS = range(5)
NV = 5
NLEV = 8  # table prefilter levels: box widths 1, 2, 4 ... 128 cm
DASH_PERIOD, DASH_LEN = 9.0, 3.0
MAX_DEPTH = 4000.0
MARKING_SEGMENTS = 12  # segments ahead whose crossings are painted
ROAD, WALK, TERRAIN = TRAIN_ID["road"], TRAIN_ID["sidewalk"], TRAIN_ID["terrain"]
MATERIAL_OF_LABEL = np.zeros(256, np.float32)  # asphalt 0, paving 1, grass 2
MATERIAL_OF_LABEL[WALK] = 1
MATERIAL_OF_LABEL[TERRAIN] = 2
# per mip level: label -> first texel row of its material in the atlas (tiles stacked, 1 texel padding)
MATERIAL_ROW = [MATERIAL_OF_LABEL * ((GROUND_TILE >> k) + 2) + 1 for k in range(GROUND_LEVELS)]


class _Profile:
    """One cross-section being painted: per-bin RGB, texture amplitude and label."""

    def __init__(self) -> None:
        self.rgb = np.zeros((NB, 3), np.float32)
        self.label = np.zeros(NB, np.uint8)

    def paint(self, x0: float, x1: float, label: int, rgb: np.ndarray) -> None:
        a = int(np.clip(round((min(x0, x1) - X_MIN) / GROUND_RES), 0, NB))
        b = int(np.clip(round((max(x0, x1) - X_MIN) / GROUND_RES), 0, NB))
        self.rgb[a:b] = rgb
        self.label[a:b] = label

    def line(self, x: float, width: float, rgb: np.ndarray) -> None:
        self.paint(x - width / 2, x + width / 2, ROAD, rgb)


def _base(style: CityStyle) -> _Profile:
    """Plain cross-section: lanes, solid edge lines, curbs, grass strips, sidewalks, yards."""
    road, pal = style.road, style.palette
    p = _Profile()
    p.paint(X_MIN, X_MAX, WALK, pal.walk * 0.92)  # courtyards behind the building line
    for side in (1, -1):
        edge = road.curb(side)
        strip = road.strip_r if side > 0 else road.strip_l
        walk = road.walk_r if side > 0 else road.walk_l
        yard = road.yard_r if side > 0 else road.yard_l
        x = edge
        p.paint(0, side * x, ROAD, pal.asphalt)
        p.paint(side * x, side * (x + CURB), WALK, pal.curb)
        x += CURB
        p.paint(side * x, side * (x + strip), TERRAIN, pal.grass)
        x += strip
        p.paint(side * x, side * (x + walk), WALK, pal.walk)
        x += walk
        p.paint(side * x, side * (x + yard), TERRAIN, pal.grass * 1.05)
        lanes = road.n_fwd if side > 0 else road.n_back
        for i in range(lanes):  # polished, oil-darkened wheel tracks
            for track in (-0.85, 0.85):
                centre = side * ((i + 0.5) * road.lane_w + track)
                p.paint(centre - 0.35, centre + 0.35, ROAD, pal.asphalt * 0.93)
        p.line(side * (lanes * road.lane_w - 0.12), 0.15, pal.paint)  # edge line
    if not road.centre_dashed:
        p.line(-0.09, 0.12, pal.paint)
        p.line(0.09, 0.12, pal.paint)
    return p


@lru_cache(maxsize=8)
def profile_tables(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb (NLEV*NV, NB, 3) uint8, labels (NLEV*NV, NB) uint8) for a seed."""
    style = city_style(seed)
    road, pal = style.road, style.palette
    variants = [_base(style) for _ in range(NV)]
    dash = variants[DASH]
    for i in range(1, road.n_fwd):
        dash.line(i * road.lane_w, 0.12, pal.paint)
    for i in range(1, road.n_back):
        dash.line(-i * road.lane_w, 0.12, pal.paint)
    if road.centre_dashed:
        dash.line(0.0, 0.12, pal.paint)
    zebra = variants[ZEBRA]
    left, right = -road.n_back * road.lane_w, road.n_fwd * road.lane_w
    zebra.paint(left, right, ROAD, pal.asphalt)
    for x in np.arange(left + 0.5, right - 0.4, 1.0):
        zebra.paint(x, x + 0.5, ROAD, pal.paint)
    variants[STOP].paint(0.0, right, ROAD, pal.paint)
    cross = variants[CROSS]
    cross.paint(X_MIN, X_MAX, ROAD, pal.asphalt)
    rgb = np.stack([v.rgb for v in variants])
    labels = np.stack([v.label for v in variants])
    levels = [rgb]
    for k in range(1, NLEV):
        levels.append(cv2.blur(rgb, (2**k + 1, 1), borderType=cv2.BORDER_REPLICATE))
    table = np.clip(np.concatenate(levels) * 255, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(table), np.ascontiguousarray(np.tile(labels, (NLEV, 1)))


def _dash_cover(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction of [lo, hi] covered by dashes (for blending the dashed variant in)."""

    def cum(z: np.ndarray) -> np.ndarray:
        return np.floor(z / DASH_PERIOD) * DASH_LEN + np.minimum(np.mod(z, DASH_PERIOD), DASH_LEN)

    return np.clip((cum(hi) - cum(lo)) / np.maximum(hi - lo, 1e-6), 0, 1)


def _row_variants(seed: int, z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Table variant (+ blend fraction) per ground row from the segment features at depth z."""
    seg_idx = np.floor(z / SEG_LEN).astype(np.int64)
    c0 = np.full(z.shape, np.inf)
    c1 = np.full(z.shape, -np.inf)
    first = int(seg_idx.min())
    near = seg_idx < first + MARKING_SEGMENTS  # beyond, markings are sub-pixel and lost in haze
    for i in range(first, first + MARKING_SEGMENTS):
        cross = cross_street(seed, i)
        if cross is not None:
            sel = near & (seg_idx == i)
            c0[sel], c1[sel] = cross
    var = PLAIN + _dash_cover(lo, hi)
    var = np.where(((z >= c0 - 5) & (z < c0 - 1)) | ((z >= c1 + 1) & (z < c1 + 5)), ZEBRA, var)
    var = np.where((z >= c0 - 6.3) & (z < c0 - 5.8), STOP, var)
    return np.where((z >= c0) & (z < c1), CROSS, var)


def draw_ground(
    seed: int,
    cam: Camera,
    light: Lighting,
    sun_occ: np.ndarray,
    ao: np.ndarray,
    image: np.ndarray,
    labels: np.ndarray,
) -> None:
    """Ray-cast, texture, shade and haze the ground below the horizon into ``image``/``labels``.

    ``sun_occ``/``ao``: uint8 masks (255 = no direct sun / strong ambient occlusion).
    """
    u, v = pixel_centres(cam.width, cam.height)
    r0 = int(np.clip(np.ceil(cam.cy), 0, cam.height))
    if r0 >= cam.height:
        return
    vv = v[r0:].astype(np.float64)
    depth = np.minimum(cam.f * cam.y / np.maximum(vv - cam.cy, 1e-3), MAX_DEPTH)
    near_edge = np.minimum(cam.f * cam.y / np.maximum(vv + 0.5 - cam.cy, 1e-3), MAX_DEPTH)
    far_edge = np.minimum(cam.f * cam.y / np.maximum(vv - 0.5 - cam.cy, 1e-3), MAX_DEPTH)
    z = cam.z + depth
    lateral = depth / cam.f  # metres per pixel across the row
    level = np.clip(np.floor(np.log2(np.maximum(lateral / GROUND_RES, 1.0))), 0, NLEV - 1)
    rows_y = (level * NV + _row_variants(seed, z, cam.z + near_edge, cam.z + far_edge)).astype(np.float32)
    map_x = np.multiply.outer((lateral / GROUND_RES).astype(np.float32), u - np.float32(cam.cx))
    map_x += np.float32((cam.x - X_MIN) / GROUND_RES)
    map_y = np.empty_like(map_x)
    map_y[:] = rows_y[:, None]
    rgb_table, label_table = profile_tables(seed)
    rgb = cv2.remap(rgb_table, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    glabels = cv2.remap(label_table, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    tex = _material_texture(seed, glabels, map_x, z, lateral, far_edge - near_edge)
    # shading: albedo * (ambient (less under cars) + sun (unless shadowed)), then haze, all per row
    fog = light.fog(depth).astype(np.float32)
    sun = light.sun * max(float(light.sun_dir[1]), 0.0)
    # light per pixel = full - shadow * sun - occlusion * 0.7 ambient: one 2 -> 3 channel transform
    m = np.stack([-sun / 255, -0.7 * light.ambient / 255, light.ambient + sun], axis=1).astype(np.float32)
    lit = cv2.transform(cv2.merge([sun_occ[r0:], ao[r0:]]).astype(np.float32), m)
    out = image[r0:]
    cv2.multiply(rgb, tex, out, scale=1 / (255 * 128), dtype=cv2.CV_32F)
    out *= lit
    out *= (1 - fog)[:, None, None]
    haze = (light.haze[None, :] * fog[:, None]).astype(np.float32)[:, None, :]  # (rows, 1, 3)
    cv2.add(out, cv2.resize(haze, (cam.width, len(fog)), interpolation=cv2.INTER_NEAREST), out)
    labels[r0:] = glabels


def _material_texture(
    seed: int, labels: np.ndarray, map_x: np.ndarray, z: np.ndarray, lateral: np.ndarray, along: np.ndarray
) -> np.ndarray:
    """World-anchored material texture per ground pixel (uint8, 128 = neutral), mip level per row."""
    atlas = ground_atlas(seed)
    footprint = np.sqrt(lateral * np.maximum(along, lateral)) / GROUND_RES
    level = np.clip(np.floor(np.log2(np.maximum(footprint, 1.0))), 0, GROUND_LEVELS - 1).astype(np.int64)
    zt = np.mod(z, GROUND_TILE * GROUND_RES) / GROUND_RES  # texel row within the tile, per image row
    out = np.empty((*labels.shape, 3), np.uint8)
    edges = [0, *(np.nonzero(np.diff(level))[0] + 1).tolist(), len(level)]
    for a, b in pairwise(edges):  # bands of rows sharing a mip level
        k = int(level[a])
        scale = np.float32(0.5**k)
        my = cv2.LUT(labels[a:b], MATERIAL_ROW[k])  # first texel row of each pixel's material tile
        my += (zt[a:b, None] * scale).astype(np.float32)
        mx = map_x[a:b] * scale
        cv2.remap(atlas[k], mx, my, cv2.INTER_LINEAR, out[a:b], cv2.BORDER_WRAP)
    return out
