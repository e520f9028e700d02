"""Two-level frame selection (CloudSeg §3.2): KEY, USEFUL or SKIP.

A frame is compared with the last KEY frame: a deviation above ``key_threshold``
makes it a new KEY (full inference in the cloud, new reference here); above
``useful_threshold`` it is USEFUL (sent; the cloud may reuse the key frame's deep
features); below, it is SKIPPED and never encoded. A KEY is forced every
``max_key_interval`` frames and when asked (after an IDR request, a stream restart),
so the reference never goes stale. Thresholds can change between any two frames.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from cloudseg_ros.selector.features import Features, deviation, extract


class Selection(enum.IntEnum):
    KEY = 0  # same values as EncodedFrame.SELECTION_*
    USEFUL = 1
    SKIP = 2


@dataclass(frozen=True)
class Decision:
    selection: Selection
    score: float
    reason: str  # "threshold", "first", "interval", "forced"


class FrameSelector:
    def __init__(
        self, key_threshold: float = 0.3, useful_threshold: float = 0.05, max_key_interval: int = 30
    ) -> None:
        self.configure(key_threshold, useful_threshold, max_key_interval)
        self._reference: Features | None = None
        self._since_key = 0
        self._force = False

    def configure(self, key_threshold: float, useful_threshold: float, max_key_interval: int) -> None:
        if not 0.0 <= useful_threshold <= key_threshold <= 1.0:
            raise ValueError(
                f"need 0 <= useful_threshold ({useful_threshold}) <= key_threshold ({key_threshold}) <= 1"
            )
        if max_key_interval < 1:
            raise ValueError(f"max_key_interval must be >= 1, got {max_key_interval}")
        self.key_threshold = key_threshold
        self.useful_threshold = useful_threshold
        self.max_key_interval = max_key_interval

    def force_key(self) -> None:
        """Make the next frame a KEY whatever its score."""
        self._force = True

    def select(self, rgb: np.ndarray) -> Decision:
        features = extract(rgb)
        if self._reference is None:
            return self._key(features, 1.0, "first")
        score = deviation(features, self._reference)
        self._since_key += 1
        if self._force:
            return self._key(features, score, "forced")
        if score >= self.key_threshold:
            return self._key(features, score, "threshold")
        if self._since_key >= self.max_key_interval:
            return self._key(features, score, "interval")
        if score >= self.useful_threshold:
            return Decision(Selection.USEFUL, score, "threshold")
        return Decision(Selection.SKIP, score, "threshold")

    def _key(self, features: Features, score: float, reason: str) -> Decision:
        self._reference = features
        self._since_key = 0
        self._force = False
        return Decision(Selection.KEY, score, reason)
