"""Building facades: a per-seed texture atlas and per-column ray casting.

Facades are vertical planes parallel to the road (plus the side walls that face
the camera at a setback or a gap). With the image plane parallel to the road, a
column's ray meets a facade at one depth, so hits are found per column (columns x
blocks, cheap) and the per-pixel work is only the texture lookup: storey height is
periodic above the ground floor, so one tile of 4 bays x 4 storeys covers any
building height.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import cv2
import numpy as np

from cloudseg_ros.scene.camera import NEAR, Camera, pixel_centres
from cloudseg_ros.scene.facade_style import BAYS, STOREYS, FacadeStyle, facade_styles
from cloudseg_ros.scene.labels import TRAIN_ID
from cloudseg_ros.scene.rng import stream
from cloudseg_ros.scene.style import Lighting
from cloudseg_ros.scene.textures import value_noise
from cloudseg_ros.scene.world import Block

RES = 0.02  # metres per facade texel
LEVELS = 5
PAD = 2  # texels of wrap-around padding between tiles
ROOF_BAND = 0.35  # metres of darker cornice/parapet at the roofline
CORNICE = 24  # texel rows of the cornice strip at the top of the atlas


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, rgb) -> None:
    """Fill a rectangle given in metres (y up from the ground) on a y-up tile."""
    a, b = round(y0 / RES), round(y1 / RES)
    c, d = round(x0 / RES), round(x1 / RES)
    img[max(a, 0) : max(b, 0), max(c, 0) : max(d, 0)] = rgb


def _window(
    img: np.ndarray, rng: np.random.Generator, fs: FacadeStyle, xc: float, y0: float, w: float, h: float
) -> None:
    frame = np.array(fs.frame, np.float32)
    wall = np.array(fs.wall, np.float32)
    _rect(img, xc - w / 2 - 0.06, y0 - 0.1, xc + w / 2 + 0.06, y0, wall * 1.12)  # sill
    _rect(img, xc - w / 2, y0, xc + w / 2, y0 + h, frame)
    glass_w, glass_h = w - 0.12, h - 0.12
    gx0, gy0 = xc - glass_w / 2, y0 + 0.06
    base = np.array([0.1, 0.13, 0.17], np.float32) * rng.uniform(0.7, 1.3)
    rows = max(1, round(glass_h / RES))
    grad = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]  # brighter sky reflection up top
    glass = base + grad * np.array([0.28, 0.32, 0.38], np.float32) * rng.uniform(0.3, 1.0)
    a, c = round(gy0 / RES), round(gx0 / RES)
    cols = max(1, round(glass_w / RES))
    img[a : a + rows, c : c + cols] = glass
    kind = rng.random()
    if kind < 0.3:  # curtain
        _rect(
            img,
            gx0,
            gy0 + glass_h * 0.3,
            gx0 + glass_w * rng.uniform(0.3, 1.0),
            gy0 + glass_h,
            rng.uniform(0.5, 0.85, 3),
        )
    elif kind < 0.38:  # blind
        _rect(img, gx0, gy0 + glass_h * rng.uniform(0.3, 0.8), gx0 + glass_w, gy0 + glass_h, wall * 0.7)
    _rect(img, xc - 0.03, gy0, xc + 0.03, gy0 + glass_h, frame)  # mullion
    _rect(img, gx0, gy0 + glass_h * 0.68, gx0 + glass_w, gy0 + glass_h * 0.68 + 0.05, frame)
    _rect(img, gx0, gy0 + glass_h - 0.08, gx0 + glass_w, gy0 + glass_h, base * 0.6)  # reveal shadow


def _tile(fs: FacadeStyle, rng: np.random.Generator) -> np.ndarray:
    """One facade tile (y-up, float32 RGB): ground floor + STOREYS storeys, BAYS bays wide."""
    h, w = round(fs.tile_h / RES), round(fs.tile_w / RES)
    wall = np.array(fs.wall, np.float32)
    noise = value_noise(rng, (h, w), 3) * 0.03 + value_noise(rng, (h, w), 25) * 0.04
    img = wall * (1.0 + noise[..., None])
    if fs.brick:
        ys, xs = np.mgrid[0:h, 0:w]
        course = ys // 4
        brick_id = (course * 131 + (xs + (course % 2) * 6) // 12) % 997
        tint = rng.uniform(-0.1, 0.1, 997).astype(np.float32)[brick_id]
        mortar = ((ys % 4) == 0) | (((xs + (course % 2) * 6) % 12) == 0)
        img = img * (1 + tint[..., None])
        img[mortar] = wall * 0.6 + 0.35
    # ground floor
    _rect(img, 0, 0, fs.tile_w, 0.5, wall * 0.7)
    for b in range(BAYS):
        xc = (b + 0.5) * fs.bay
        if fs.shops:
            sw = fs.bay * 0.82
            _rect(img, xc - sw / 2, 0.4, xc + sw / 2, fs.ground - 0.8, np.array(fs.frame) * 0.5)
            inner = np.array([0.08, 0.09, 0.1]) + rng.uniform(0, 0.15) * np.array([0.8, 0.7, 0.5])
            _rect(img, xc - sw / 2 + 0.08, 0.5, xc + sw / 2 - 0.08, fs.ground - 0.88, inner)
            _rect(
                img, xc - sw / 2 + 0.08, fs.ground - 1.4, xc + sw / 2 - 0.08, fs.ground - 0.88, inner + 0.15
            )
            if rng.random() < 0.6:
                _rect(
                    img, xc - sw / 2, fs.ground - 0.75, xc + sw / 2, fs.ground - 0.3, rng.uniform(0.1, 0.9, 3)
                )
        else:
            _window(img, rng, fs, xc, 1.2, fs.bay * fs.win_w, fs.ground - 2.0)
    for s in range(STOREYS):
        base = fs.ground + s * fs.storey
        if fs.bands:
            _rect(img, 0, base - 0.05, fs.tile_w, base + 0.12, wall * 1.15)
        for b in range(BAYS):
            height = min(fs.storey * fs.win_h + 0.3, fs.storey - 1.0)
            _window(img, rng, fs, (b + 0.5) * fs.bay, base + 0.9, fs.bay * fs.win_w, height)
    return img


@dataclass(frozen=True)
class Atlas:
    levels: tuple[np.ndarray, ...]  # uint8 (rows, cols, 3), y-up, level k shrunk by 2**k
    x0: np.ndarray  # first texel column of each style's tile (level 0, after padding)
    cornice: float  # texel row (level 0) in the middle of the cornice strip


@lru_cache(maxsize=4)
def atlas(seed: int) -> Atlas:
    styles = facade_styles(seed)
    rng = stream(seed, "facade-textures")
    tiles = [_tile(fs, rng) for fs in styles]
    height = max(t.shape[0] for t in tiles)
    cols, x0 = [], []
    pos = 0
    for fs, t in zip(styles, tiles, strict=True):
        cornice = np.repeat(t[:1] * 0.7, CORNICE, axis=0)  # the roofline band: darker wall
        cornice[: CORNICE // 4] *= 0.8
        t = np.concatenate([t, np.repeat(t[-1:], height - t.shape[0], axis=0), cornice], axis=0)
        if fs.bands:
            t[height + CORNICE // 2 : height + CORNICE // 2 + 2] *= 1.3
        t = np.concatenate([t[:, -PAD:], t, t[:, :PAD]], axis=1)
        x0.append(pos + PAD)
        pos += t.shape[1]
        cols.append(t)
    full = np.clip(np.concatenate(cols, axis=1) * 255, 0, 255).astype(np.uint8)
    levels = [full]
    for _ in range(1, LEVELS):
        prev = levels[-1]
        levels.append(
            cv2.resize(prev, (prev.shape[1] // 2, prev.shape[0] // 2), interpolation=cv2.INTER_AREA)
        )
    return Atlas(tuple(levels), np.array(x0, np.float32), float(height + CORNICE // 2))


@dataclass
class Hits:
    """Per-column result of casting the columns against a set of buildings."""

    depth: np.ndarray  # (W,) metres along z; inf where nothing is hit
    coord: np.ndarray  # metres along the hit face (texture u)
    height: np.ndarray  # building height
    style: np.ndarray  # facade style index
    tint: np.ndarray
    normal: np.ndarray  # 0: faces -x (right side), 1: faces +x (left side), 2: faces -z


def cast(cam: Camera, blocks: list[tuple[int, Block]]) -> Hits:
    """Nearest building face along each column's ray. ``blocks``: (side, block) pairs."""
    u, _ = pixel_centres(cam.width, cam.height)
    slope = (u.astype(np.float64) - cam.cx) / cam.f
    w = cam.width
    hits = Hits(
        np.full(w, np.inf), np.zeros(w), np.zeros(w), np.zeros(w, np.int64), np.ones(w), np.zeros(w, np.int64)
    )
    for side in (1, -1):
        mine = [b for s, b in blocks if s == side]
        cols = np.nonzero(side * slope > 1e-5)[0]
        if not mine or len(cols) == 0:
            continue
        sp = side * slope[cols][:, None]
        xc = side * cam.x
        z0 = np.array([b.z0 for b in mine])
        z1 = np.array([b.z1 for b in mine])
        xb = np.array([b.xb for b in mine])
        dep = np.array([b.depth for b in mine])
        d_front = (xb - xc) / sp
        zf = cam.z + d_front
        d_front = np.where((zf >= z0) & (zf < z1) & (d_front > NEAR), d_front, np.inf)
        d_side = np.broadcast_to(z0 - cam.z, d_front.shape)
        xs = xc + sp * d_side
        d_side = np.where((d_side > NEAR) & (xs >= xb) & (xs <= xb + dep), d_side, np.inf)
        both = np.concatenate([d_front, d_side], axis=1)
        k = np.argmin(both, axis=1)
        d = both[np.arange(len(cols)), k]
        is_side = k >= len(mine)
        j = k % len(mine)
        rows = np.arange(len(cols))
        coord = np.where(is_side, xs[rows, j] - xb[j], zf[rows, j] - z0[j])
        better = d < hits.depth[cols]
        c = cols[better]
        hits.depth[c] = d[better]
        hits.coord[c] = (coord + np.array([b.s0 for b in mine])[j])[better]
        hits.height[c] = np.array([b.height for b in mine])[j][better]
        hits.style[c] = np.array([b.style for b in mine])[j][better]
        hits.tint[c] = np.array([b.tint for b in mine])[j][better]
        hits.normal[c] = np.where(is_side, 2, 0 if side > 0 else 1)[better]
    return hits


NORMALS = np.array([[-1, 0, 0], [1, 0, 0], [0, 0, -1]], np.float32)


def draw_facades(
    seed: int,
    cam: Camera,
    hits: Hits,
    light: Lighting,
    sun_occ: np.ndarray,
    image: np.ndarray,
    labels: np.ndarray,
    limit: np.ndarray | None = None,
) -> np.ndarray:
    """Texture, shade and haze the hit facades into ``image``/``labels``.

    ``limit``: per-column row above which this layer must stay (a nearer layer below it).
    Returns the per-column top row of what was drawn (inf where nothing), for the next layer.
    """
    found = np.isfinite(hits.depth)
    none = np.full(cam.width, np.inf)
    if not found.any():
        return none
    d = np.where(found, hits.depth, 1e9)
    top = cam.cy - cam.f * (hits.height - cam.y) / d
    bottom = cam.cy + cam.f * cam.y / d
    if limit is not None:
        bottom = np.minimum(bottom, limit)
        found &= bottom > top
    if not found.any():
        return none
    r0 = int(np.clip(np.floor(top[found].min()), 0, cam.height))
    r1 = int(np.clip(np.ceil(bottom[found].max()), 0, cam.height))
    if r1 <= r0:
        return none
    _, v = pixel_centres(cam.width, cam.height)
    vv = v[r0:r1, None]
    mask = (
        (vv >= top[None, :].astype(np.float32)) & (vv < bottom[None, :].astype(np.float32)) & found[None, :]
    )
    styles = facade_styles(seed)
    gf = np.array([s.ground for s in styles], np.float32)[hits.style]
    period = np.array([s.storey * STOREYS for s in styles], np.float32)[hits.style]
    tile_w = np.array([s.tile_w for s in styles])[hits.style]
    at = atlas(seed)
    scale = (d / cam.f).astype(np.float32)  # metres per pixel at the facade
    y = np.float32(cam.y) - (vv - np.float32(cam.cy)) * scale[None, :]  # height above ground per pixel
    # storeys repeat above the ground floor: ty = y - max(floor((y - gf) / period), 0) * period
    storey = np.subtract(y, gf, out=np.empty_like(y))
    storey *= 1 / period
    np.floor(storey, out=storey)
    np.maximum(storey, 0, out=storey)
    storey *= period
    ty = np.subtract(y, storey, out=storey)
    ty *= np.float32(1 / RES)
    roof = y > (hits.height - ROOF_BAND).astype(np.float32)[None, :]
    ty[roof] = at.cornice
    tx = (at.x0[hits.style] + np.mod(hits.coord, tile_w) / RES).astype(np.float32)
    level = np.clip(np.floor(np.log2(np.maximum(scale / RES, 1.0))), 0, LEVELS - 1).astype(np.int64)
    shrink = np.ldexp(np.float32(1), -level).astype(np.float32)[None, :]  # texel scale of each column's mip
    np.maximum(ty, 0, out=ty)
    ty *= shrink
    mx = np.empty_like(ty)
    mx[:] = tx[None, :] * shrink
    tex = np.empty((*mask.shape, 3), np.uint8)
    edges = [0, *(np.nonzero(np.diff(level))[0] + 1).tolist(), cam.width]
    for a, b in pairwise(edges):  # runs of columns sharing a mip level
        cv2.remap(
            at.levels[level[a]], mx[:, a:b], ty[:, a:b], cv2.INTER_LINEAR, tex[:, a:b], cv2.BORDER_REPLICATE
        )
    # per column: tint, orientation to the sun and haze; per pixel: cast shadows and the roof band
    cos = np.maximum(NORMALS[hits.normal] @ light.sun_dir, 0)
    fog = light.fog(d).astype(np.float32)
    k = (hits.tint.astype(np.float32) * (1 - fog) / 255)[:, None]
    direct = light.sun[None, :] * (cos * k[:, 0])[:, None]
    full = light.ambient[None, :] * k + direct
    shaded = tex.astype(np.float32)
    shaded *= full[None].astype(np.float32)
    if direct.any():  # faces the sun can reach also receive cast shadows (as a loss of brightness)
        share = (direct.sum(1) / np.maximum(full.sum(1), 1e-6) / 255).astype(np.float32)
        shadow = sun_occ[r0:r1].astype(np.float32)
        shadow *= -share[None, :]
        shadow += 1
        cv2.multiply(shaded, cv2.merge([shadow, shadow, shadow]), shaded)
    shaded += (light.haze[None, :] * fog[:, None])[None].astype(np.float32)
    m8 = mask.view(np.uint8)
    cv2.copyTo(shaded, m8, image[r0:r1])
    cv2.copyTo(np.full_like(m8, TRAIN_ID["building"]), m8, labels[r0:r1])
    return np.where(found, top, np.inf)
