"""World-space polygon builders for objects: quads, ellipses, bars, boxes and their faces.

Polygons are (N, 3) float arrays in metres. Vertical faces of boxes start with a
horizontal edge and go up, so sub-rectangles (windows, lights) can be placed with
(across, up) fractions by ``inset``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def _circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(a), np.sin(a)


def quad(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """Rectangle in the plane z = const (facing the camera)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float64)


def ellipse(cx: float, cy: float, z: float, rx: float, ry: float, n: int = 14, jitter=None) -> np.ndarray:
    """Ellipse in the plane z = const, optionally with per-vertex radius factors (ragged outlines)."""
    c, s = _circle(n)
    out = np.empty((n, 3))
    r = 1.0 if jitter is None else jitter
    out[:, 0] = cx + rx * r * c
    out[:, 1] = cy + ry * r * s
    out[:, 2] = z
    return out


def side_ellipse(x: float, cz: float, cy: float, rz: float, ry: float, n: int = 14) -> np.ndarray:
    """Ellipse in the plane x = const (a wheel seen from the side)."""
    c, s = _circle(n)
    out = np.empty((n, 3))
    out[:, 0] = x
    out[:, 1] = cy + ry * s
    out[:, 2] = cz + rz * c
    return out


def bar(p0, p1, width: float, z_facing: bool = True) -> np.ndarray:
    """A thin bar between two points, widened in the camera-facing (x-y) plane or the x = const plane."""
    p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
    d = p1 - p0
    n = np.array([-d[1], d[0], 0.0]) if z_facing else np.array([0.0, -d[2], d[1]])
    n *= width / 2 / max(float(np.sqrt(n @ n)), 1e-9)
    return np.array([p0 + n, p1 + n, p1 - n, p0 - n])


# Hexahedron faces by vertex index i + 2j + 4k (i: x, j: y, k: z); bottom face omitted.
X_MINUS, X_PLUS, TOP, Z_MINUS, Z_PLUS = range(5)
HEX_FACES = np.array([(0, 4, 6, 2), (1, 5, 7, 3), (2, 3, 7, 6), (0, 1, 3, 2), (4, 5, 7, 6)])
_I, _J, _K = (np.arange(8) & 1), ((np.arange(8) >> 1) & 1), ((np.arange(8) >> 2) & 1)


def hexahedron(x0, x1, y0, y1, z0, z1, top_inset=(0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """(8, 3) vertices of a box whose top face is inset by (x-, x+, z-, z+) metres (cabins, roofs)."""
    v = np.empty((8, 3))
    v[:, 0] = np.where(_I == 0, x0 + _J * top_inset[0], x1 - _J * top_inset[1])
    v[:, 1] = np.where(_J == 1, y1, y0)
    v[:, 2] = np.where(_K == 0, z0 + _J * top_inset[2], z1 - _J * top_inset[3])
    return v


def visible_faces(verts: np.ndarray, eye: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(face id, polygon, outward unit normal) of the faces of a convex hexahedron that face the eye."""
    faces = verts[HEX_FACES]  # (5, 4, 3)
    a = faces[:, 1] - faces[:, 0]
    b = faces[:, 2] - faces[:, 0]
    n = np.empty((5, 3))
    n[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    n[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    n[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    centres = faces.sum(axis=1) * 0.25
    n *= np.where(((centres - verts.sum(axis=0) * 0.125) * n).sum(axis=1) < 0, -1.0, 1.0)[:, None]
    n /= np.maximum(np.sqrt((n * n).sum(axis=1)), 1e-12)[:, None]
    vis = ((eye - centres) * n).sum(axis=1) > 0
    return [(int(i), faces[i], n[i]) for i in np.nonzero(vis)[0]]


def inset(face: np.ndarray, a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    """Sub-quad of a quad face in its bilinear (a along p0->p1, b along p0->p3) coordinates."""
    a = np.array([a0, a1, a1, a0])
    b = np.array([b0, b0, b1, b1])
    w = np.stack([(1 - a) * (1 - b), a * (1 - b), a * b, (1 - a) * b], axis=1)
    return w @ face
