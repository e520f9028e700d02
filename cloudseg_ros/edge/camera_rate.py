"""The rate camera frames really arrive at, measured from their stamps.

The edge opens its encoder at the nominal ``camera_fps`` (see ``pipeline``): x264 gives each
frame ``bitrate / fps`` bits whatever the stamps say, so a 30 Hz camera on an edge told 10 Hz
sends 3x ``bitrate_kbps`` (measured: 617 kbit/s asked 200), and a controller's profile for the
wrong rate climbs the wrong ladder. Nothing else on the robot would notice; this does.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class CameraRate:
    """Median frame interval of the last ``window`` stamps, as a rate, and whether it is off
    the nominal rate by more than ``tolerance`` (a fraction)."""

    def __init__(self, window: int = 30, tolerance: float = 0.2, min_intervals: int = 10) -> None:
        self.tolerance = tolerance
        self.min_intervals = min_intervals
        self._intervals: deque[float] = deque(maxlen=window)
        self._last: float | None = None

    def add(self, stamp_s: float) -> None:
        if self._last is not None:
            dt = stamp_s - self._last
            if dt < 0:  # a replay looped or the clock jumped back: start over
                self._intervals.clear()
            elif dt > 0:  # equal stamps (a republished frame) say nothing about the rate
                self._intervals.append(dt)
        self._last = stamp_s

    @property
    def fps(self) -> float | None:
        """The measured rate [Hz], once ``min_intervals`` intervals are in."""
        if len(self._intervals) < self.min_intervals:
            return None
        return 1.0 / float(np.median(self._intervals))

    def faster_than(self, nominal_fps: float) -> float | None:
        """The measured rate when it exceeds ``nominal_fps`` by more than the tolerance, else None.

        Only faster counts: frames the node never got (a full queue on a loaded robot) make the
        stamps of those it got further apart, so a slower measured rate may be the robot's, not
        the camera's; a faster one cannot be."""
        fps = self.fps
        if fps is None:
            return None
        # Most of the window, not only its median, must be faster: right after a change the
        # median of old and new intervals is neither rate, and would be reported as one.
        slow = float(np.percentile(self._intervals, 80))
        if 1.0 / slow <= nominal_fps * (1.0 + self.tolerance):
            return None
        return fps
