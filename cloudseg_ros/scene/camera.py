"""The pinhole camera and the ego vehicle's motion.

Camera shake (pitch, yaw) is modelled as a shift of the principal point, the
small-angle form of a rotation. That keeps the projection a pure pinhole with the
image plane parallel to the road's direction, so ground depth depends only on the
image row and facade depth only on the column: the background can be ray-cast
with outer products instead of per-pixel ray algebra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FOCAL = 1.05  # focal length in units of the image width (of a 2:1 frame): ~51 deg horizontal FOV
HORIZON = 0.47  # horizon row as a fraction of the height, camera level
NEAR = 0.25  # metres: geometry closer than this in front of the camera is clipped


@dataclass(frozen=True)
class Camera:
    """Intrinsics (pixels) and position (metres: x right, y up, z forward along the road)."""

    width: int
    height: int
    f: float
    cx: float
    cy: float
    x: float
    y: float
    z: float

    @property
    def scale(self) -> float:
        """Pixels per pixel of a 1024-wide 2:1 frame: converts sizes given for 1024x512."""
        return self.f / (FOCAL * 1024.0)

    def project(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) world points (in front of the camera) -> (N, 2) continuous pixel coordinates."""
        d = pts[:, 2] - self.z
        u = self.cx + self.f * (pts[:, 0] - self.x) / d
        v = self.cy - self.f * (pts[:, 1] - self.y) / d
        return np.stack([u, v], axis=1)

    def ground_row(self, depth: float) -> float:
        """Image row (continuous) where the ground at ``depth`` metres ahead appears."""
        return self.cy + self.f * self.y / depth


def focal_for(width: int, height: int) -> float:
    """Focal length in pixels: tied to the width of a 2:1 frame so content is size-independent."""
    return FOCAL * min(width, 2 * height)


def intrinsics(width: int, height: int) -> tuple[float, float, float]:
    """(f, cx, cy) of the level camera in ROS's convention (pixel centres at integers; this
    module puts them at +0.5): what sensor_msgs/CameraInfo's K holds for the scene. The
    principal point is on the horizon row, not the image centre."""
    return focal_for(width, height), width / 2 - 0.5, HORIZON * height - 0.5


@dataclass(frozen=True)
class EgoPath:
    """How the ego vehicle moves: cruise speed plus bounded, smooth wobbles (all in SI units)."""

    speed: float  # mean forward speed, m/s
    z0: float  # position at t = 0
    x: float  # lane centre
    height: float  # camera height above the road
    surge: float  # amplitude of speed variation, metres of position
    sway: float  # lateral wobble amplitude, metres
    shake: float  # pitch/yaw jitter amplitude, radians
    phases: tuple[float, float, float, float]

    def pose(self, t: float) -> tuple[float, float, float, float, float]:
        """(x, y, z, yaw, pitch) at time t; yaw/pitch small angles in radians."""
        p = self.phases
        z = self.z0 + self.speed * t + self.surge * math.sin(0.21 * t + p[0])
        x = self.x + self.sway * math.sin(0.37 * t + p[1])
        y = self.height + 0.25 * self.shake * math.sin(9.0 * t + p[2])
        yaw = 1.5 * self.shake * math.sin(0.29 * t + p[3]) + 0.5 * self.shake * math.sin(1.3 * t + p[1])
        pitch = self.shake * (math.sin(7.3 * t + p[2]) * 0.6 + math.sin(2.1 * t + p[0]) * 0.4)
        return x, y, z, yaw, pitch

    def camera(self, t: float, width: int, height: int) -> Camera:
        x, y, z, yaw, pitch = self.pose(t)
        f = focal_for(width, height)
        return Camera(width, height, f, width / 2 - f * yaw, HORIZON * height + f * pitch, x, y, z)


@lru_cache(maxsize=8)
def pixel_centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row pixel-centre coordinates (float32), shared by all frames of a size."""
    u = np.arange(width, dtype=np.float32) + 0.5
    v = np.arange(height, dtype=np.float32) + 0.5
    u.setflags(write=False)
    v.setflags(write=False)
    return u, v
