"""Rasterising world-space polygons into the image and the label map together.

Every object part is a planar polygon in world space, clipped at the near plane,
projected, and filled with ``cv2.fillPoly`` into the image *and* the label map
with the same integer vertices, so labels are pixel-exact with what is drawn.
Objects are painted far to near (painter's algorithm) which gives occlusion.
"""

from __future__ import annotations

import cv2
import numpy as np

from cloudseg_ros.scene.camera import NEAR, Camera
from cloudseg_ros.scene.style import Lighting

SHIFT = 4  # fractional bits of polygon vertices: sub-pixel placement at every resolution
ONE = 1 << SHIFT


def clip_near(pts: np.ndarray, z_min: float) -> np.ndarray:
    """Clip a convex or simple polygon (N, 3) to z >= z_min (Sutherland-Hodgman, one plane)."""
    inside = pts[:, 2] >= z_min
    if inside.all():
        return pts
    if not inside.any():
        return pts[:0]
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        if inside[i]:
            out.append(a)
        if inside[i] != inside[(i + 1) % n]:
            out.append(a + (z_min - a[2]) / (b[2] - a[2]) * (b - a))
    return np.array(out)


class Painter:
    """Draws lit, hazed polygons for one frame."""

    def __init__(self, cam: Camera, image: np.ndarray, labels: np.ndarray, light: Lighting) -> None:
        self.cam = cam
        self.image = image
        self.labels = labels
        self.light = light
        self.cam_pos = np.array([cam.x, cam.y, cam.z])
        self.lim = 4 * max(cam.width, cam.height)

    def to_pixels(self, pts: np.ndarray) -> np.ndarray | None:
        """World polygon -> fixed-point pixel vertices for cv2, or None if nothing is in front."""
        pts = clip_near(pts, self.cam.z + NEAR)
        if len(pts) < 3:
            return None
        uv = self.cam.project(pts) - 0.5  # cv2 puts pixel centres on integers
        uv = np.clip(uv, -self.lim, self.lim)
        return np.round(uv * ONE).astype(np.int32)

    def shade(self, albedo: np.ndarray, normal: tuple[float, float, float], depth: float, sun: float = 1.0):
        """Colour of a surface: ambient + direct sun (``sun`` = 0 in shadow), then haze."""
        lt = self.light
        cos = max(0.0, float(np.dot(normal, lt.sun_dir)))
        c = np.asarray(albedo, np.float32) * (lt.ambient + lt.sun * (cos * sun))
        fog = float(lt.fog(depth))
        return c * (1 - fog) + lt.haze * fog

    def glow(self, rgb: np.ndarray, depth: float) -> np.ndarray:
        """Colour of a light source: not lit by the sun, only hazed."""
        fog = float(self.light.fog(depth))
        return np.asarray(rgb, np.float32) * (1 - fog) + self.light.haze * fog

    def poly(self, pts: np.ndarray, colour: np.ndarray, label: int) -> None:
        px = self.to_pixels(pts)
        if px is None:
            return
        cv2.fillPoly(self.image, [px], tuple(float(c) for c in colour), cv2.LINE_8, SHIFT)
        cv2.fillPoly(self.labels, [px], int(label), cv2.LINE_8, SHIFT)

    def polys(self, polys: list[np.ndarray], colour: np.ndarray, label: int) -> None:
        """Several polygons filled as one shape (holes by the even-odd rule)."""
        px = [p for p in map(self.to_pixels, polys) if p is not None]
        if px:
            cv2.fillPoly(self.image, px, tuple(float(c) for c in colour), cv2.LINE_8, SHIFT)
            cv2.fillPoly(self.labels, px, int(label), cv2.LINE_8, SHIFT)

    def pixel_height(self, height: float, depth: float) -> float:
        return self.cam.f * height / max(depth, 1e-3)


def quad(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """Rectangle in the plane z = const (facing the camera)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float64)


def ellipse(cx: float, cy: float, z: float, rx: float, ry: float, n: int = 14, jitter=None) -> np.ndarray:
    """Ellipse in the plane z = const, optionally with per-vertex radius factors (ragged outlines)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1.0 if jitter is None else jitter
    return np.stack([cx + rx * r * np.cos(a), cy + ry * r * np.sin(a), np.full(n, z)], axis=1)


def side_ellipse(x: float, cz: float, cy: float, rz: float, ry: float, n: int = 14) -> np.ndarray:
    """Ellipse in the plane x = const (a wheel seen from the side)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.full(n, x), cy + ry * np.sin(a), cz + rz * np.cos(a)], axis=1)


def segment_quad(p0: np.ndarray, p1: np.ndarray, width: float, z_facing: bool = True) -> np.ndarray:
    """A thin bar between two points, widened in the camera-facing (x-y) plane or the x = const plane."""
    d = p1 - p0
    n = np.array([-d[1], d[0], 0.0]) if z_facing else np.array([0.0, -d[2], d[1]])
    n = n / max(np.linalg.norm(n), 1e-9) * width / 2
    return np.array([p0 + n, p1 + n, p1 - n, p0 - n])


# Hexahedron faces by vertex index i + 2j + 4k (i: x, j: y, k: z); bottom face omitted. Vertical faces
# start with a horizontal edge (p0 -> p1) and go up (p0 -> p3), so ``inset`` coordinates are (across, up).
X_MINUS, X_PLUS, TOP, Z_MINUS, Z_PLUS = range(5)
HEX_FACES = ((0, 4, 6, 2), (1, 5, 7, 3), (2, 3, 7, 6), (0, 1, 3, 2), (4, 5, 7, 6))


def hexahedron(x0, x1, y0, y1, z0, z1, top_inset=(0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """(8, 3) vertices of a box whose top face is inset by (x-, x+, z-, z+) metres (cabins, roofs)."""
    v = np.zeros((8, 3))
    for k in range(8):
        i, j, kk = k & 1, (k >> 1) & 1, (k >> 2) & 1
        x = (x0 + j * top_inset[0]) if i == 0 else (x1 - j * top_inset[1])
        z = (z0 + j * top_inset[2]) if kk == 0 else (z1 - j * top_inset[3])
        v[k] = (x, y1 if j else y0, z)
    return v


def visible_faces(verts: np.ndarray, eye: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(face id, polygon, outward unit normal) of the faces of a convex hexahedron that face the eye."""
    centre = verts.mean(axis=0)
    out = []
    for fid, face in enumerate(HEX_FACES):
        p = verts[list(face)]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        fc = p.mean(axis=0)
        if np.dot(n, fc - centre) < 0:
            n = -n
        norm = np.linalg.norm(n)
        if norm > 1e-9 and np.dot(n, eye - fc) > 0:
            out.append((fid, p, n / norm))
    return out


def inset(face: np.ndarray, a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    """Sub-quad of a quad face in its bilinear (a along p0->p1, b along p0->p3) coordinates."""
    p0, p1, p2, p3 = face

    def at(a: float, b: float) -> np.ndarray:
        return (1 - a) * (1 - b) * p0 + a * (1 - b) * p1 + a * b * p2 + (1 - a) * b * p3

    return np.array([at(a0, b0), at(a1, b0), at(a1, b1), at(a0, b1)])


def sample_grid(
    grid: np.ndarray, box: tuple[float, float, float, float], clip: tuple[int, int, int, int]
) -> np.ndarray:
    """Resample a small object-anchored grid spanning pixel box (x0, y0, x1, y1) over the clip
    rectangle (x0, y0, x1, y1) only: texture stays glued to the object at any size, and the cost is
    bounded by the visible area."""
    gh, gw = grid.shape[:2]
    bx0, by0, bx1, by1 = box
    sx, sy = gw / max(bx1 - bx0, 1e-6), gh / max(by1 - by0, 1e-6)
    x0, y0, x1, y1 = clip
    m = np.array([[sx, 0, (x0 + 0.5 - bx0) * sx - 0.5], [0, sy, (y0 + 0.5 - by0) * sy - 0.5]], np.float64)
    return cv2.warpAffine(
        grid,
        m,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )


def modulate(painter: Painter, polys: list[np.ndarray], grid: np.ndarray, box_world: np.ndarray) -> None:
    """Multiply the pixels inside ``polys`` by an object-anchored factor grid (foliage, grain).

    ``box_world``: (2, 3) opposite corners of the grid's extent in the camera-facing plane.
    """
    px = [q for q in map(painter.to_pixels, polys) if q is not None]
    if not px:
        return
    allpts = np.concatenate(px) / ONE
    h, w = painter.labels.shape
    x0, y0 = max(int(np.floor(allpts[:, 0].min())), 0), max(int(np.floor(allpts[:, 1].min())), 0)
    x1, y1 = min(int(np.ceil(allpts[:, 0].max())) + 1, w), min(int(np.ceil(allpts[:, 1].max())) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    offset = np.array([x0 * ONE, y0 * ONE], np.int32)
    cv2.fillPoly(mask, [q - offset for q in px], 1, cv2.LINE_8, SHIFT)
    corners = painter.cam.project(box_world) - 0.5
    box = (
        corners[:, 0].min(),
        corners[:, 1].min(),
        corners[:, 0].max(),
        corners[:, 1].max(),
    )
    factor = sample_grid(grid, box, (x0, y0, x1, y1))
    region = painter.image[y0:y1, x0:x1]
    sel = mask.astype(bool)
    region[sel] *= factor[sel][:, None]
