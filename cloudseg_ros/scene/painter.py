"""Rasterising world-space polygons into the image and the label map together.

Every object part is a planar polygon in world space, clipped at the near plane,
projected, and filled with ``cv2.fillPoly`` into the image *and* the label map
with the same integer vertices, so labels are pixel-exact with what is drawn.
Objects are painted far to near (painter's algorithm), which gives occlusion.

An object's parts are queued and then projected and shaded in one vectorised pass
(``flush``): a frame has a few thousand small polygons, and per-polygon numpy
overhead would otherwise dominate the frame time.
"""

from __future__ import annotations

import cv2
import numpy as np

from cloudseg_ros.scene.camera import NEAR, Camera
from cloudseg_ros.scene.style import Lighting

SHIFT = 4  # fractional bits of polygon vertices: sub-pixel placement at every resolution
ONE = 1 << SHIFT
FACING = (0.0, 0.0, -1.0)  # normal of camera-facing billboards


def clip_near(pts: np.ndarray, z_min: float) -> np.ndarray:
    """Clip a polygon (N, 3) to z >= z_min (Sutherland-Hodgman against one plane)."""
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


def project_contours(cam: Camera, contours: list[np.ndarray]) -> tuple[list[np.ndarray], list[int]]:
    """Fixed-point pixel vertices of many world polygons at once (near-plane clipped), and which
    input each result came from (polygons entirely behind the near plane are dropped)."""
    kept = list(range(len(contours)))
    verts = np.concatenate(contours)
    if (verts[:, 2] < cam.z + NEAR).any():  # rare: something crosses the near plane
        clipped = [clip_near(c, cam.z + NEAR) for c in contours]
        kept = [i for i, c in enumerate(clipped) if len(c) >= 3]
        if not kept:
            return [], []
        contours = [clipped[i] for i in kept]
        verts = np.concatenate(contours)
    d = verts[:, 2] - cam.z
    lim = 4 * max(cam.width, cam.height)
    uv = np.empty((len(verts), 2))
    uv[:, 0] = cam.cx - 0.5 + cam.f * (verts[:, 0] - cam.x) / d  # cv2 puts pixel centres on integers
    uv[:, 1] = cam.cy - 0.5 - cam.f * (verts[:, 1] - cam.y) / d
    px = np.round(np.clip(uv, -lim, lim) * ONE).astype(np.int32)
    ends = np.cumsum([len(c) for c in contours]).tolist()
    return [px[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)], kept


class Painter:
    """Draws lit, hazed polygons for one frame; one object at a time (``begin`` ... ``flush``)."""

    def __init__(self, cam: Camera, image: np.ndarray, labels: np.ndarray, light: Lighting) -> None:
        self.cam = cam
        self.image = image
        self.labels = labels
        self.light = light
        self.cam_pos = np.array([cam.x, cam.y, cam.z])
        self.lim = 4 * max(cam.width, cam.height)
        self.depth = 10.0
        self.sun = 1.0
        # (contours, albedo, normal, label, sun factor, emissive, depth); drawn in order by flush()
        self._queue: list[tuple[list[np.ndarray], object, object, int, float, bool, float]] = []

    def begin(self, depth: float, sun: float) -> None:
        """Start an object at ``depth`` metres (for haze), ``sun`` = 0 if it stands in shadow."""
        self.depth = max(depth, NEAR)
        self.sun = sun
        if len(self._queue) > 4000:
            self.flush()

    def poly(
        self, pts: np.ndarray, albedo, label: int, normal=FACING, sun: float = 1.0, decal: bool = False
    ) -> None:
        """Queue a lit polygon (``sun`` scales direct light for this part, e.g. 0 for an underside).

        ``decal``: the part lies inside its object's already-drawn silhouette with the same label
        (a window, a plate), so only the image needs it.
        """
        self._queue.append(([pts], albedo, normal, -1 if decal else label, sun * self.sun, False, self.depth))

    def polys(self, contours: list[np.ndarray], albedo, label: int, normal=FACING) -> None:
        """Queue several contours filled as one shape (holes by the even-odd rule)."""
        self._queue.append((contours, albedo, normal, label, self.sun, False, self.depth))

    def glow(self, pts: np.ndarray, rgb, label: int, decal: bool = True) -> None:
        """Queue a light source: its colour is not lit by the sun, only hazed (a decal by default)."""
        self._queue.append(([pts], rgb, FACING, -1 if decal else label, 1.0, True, self.depth))

    def colour(self, albedo, normal=FACING) -> np.ndarray:
        """Immediate shaded colour of a surface of the current object."""
        lt = self.light
        cos = max(0.0, float(np.dot(normal, lt.sun_dir))) * self.sun  # (immediate: flush first)
        fog = float(lt.fog(self.depth))
        return (np.asarray(albedo, np.float32) * (lt.ambient + lt.sun * cos)) * (1 - fog) + lt.haze * fog

    def flush(self) -> None:
        """Project, shade and fill the queued polygons in order."""
        q = self._queue
        if not q:
            return
        self._queue = []
        contours = [c for entry in q for c in entry[0]]
        owners = [k for k, entry in enumerate(q) for _ in entry[0]]
        pieces, kept = project_contours(self.cam, contours)
        owner = [owners[i] for i in kept]
        lt = self.light
        albedo = np.array([entry[1] for entry in q], np.float32).reshape(-1, 3)
        normals = np.array([entry[2] for entry in q], np.float32).reshape(-1, 3)
        sun = np.array([entry[4] for entry in q], np.float32)
        glow = np.array([entry[5] for entry in q])
        fog = lt.fog(np.array([entry[6] for entry in q], np.float32))[:, None]
        cos = np.maximum(normals @ lt.sun_dir, 0) * sun
        colours = albedo * (lt.ambient + lt.sun * cos[:, None])
        colours[glow] = albedo[glow]
        colours = (colours * (1 - fog) + lt.haze * fog).tolist()
        labels = [entry[3] for entry in q]
        image, label_map, line = self.image, self.labels, cv2.LINE_8
        start = 0
        n = len(pieces)
        while start < n:
            k = owner[start]
            end = start + 1
            while end < n and owner[end] == k:
                end += 1
            shape = pieces[start:end]
            cv2.fillPoly(image, shape, colours[k], line, SHIFT)
            if labels[k] >= 0:
                cv2.fillPoly(label_map, shape, labels[k], line, SHIFT)
            start = end

    def to_pixels(self, pts: np.ndarray) -> np.ndarray | None:
        """World polygon -> fixed-point pixel vertices for cv2, or None if nothing is in front."""
        pts = clip_near(pts, self.cam.z + NEAR)
        if len(pts) < 3:
            return None
        uv = self.cam.project(pts) - 0.5  # cv2 puts pixel centres on integers
        return np.round(np.clip(uv, -self.lim, self.lim) * ONE).astype(np.int32)

    def pixel_height(self, height: float, depth: float | None = None) -> float:
        return self.cam.f * height / max(self.depth if depth is None else depth, 1e-3)


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
    Draws the queue first, since it modulates what is already in the image.
    """
    painter.flush()
    px, _ = project_contours(painter.cam, polys)
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
    for q in px:  # one by one: overlapping blobs must union
        cv2.fillPoly(mask, [q - offset], 1, cv2.LINE_8, SHIFT)
    corners = painter.cam.project(box_world) - 0.5
    box = (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())
    factor = sample_grid(grid, box, (x0, y0, x1, y1))
    factor -= 1  # factor inside the shape, 1 outside
    factor *= mask
    factor += 1
    region = painter.image[y0:y1, x0:x1]
    cv2.multiply(
        region, cv2.merge([factor, factor, factor]), region
    )  # in place; numpy's broadcast is 10x slower
