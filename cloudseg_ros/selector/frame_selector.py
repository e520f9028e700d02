"""Two-level frame selection (CloudSeg §3.2): KEY, USEFUL or SKIP.

Whether a frame is a new KEY is about the cloud's work: its deviation from the last KEY
frame reaching ``key_threshold`` means full inference (whose deep features USEFUL frames
reuse). Whether a frame is sent at all is about the robot's masks: a frame that is
SKIPPED (never encoded) gets the last sent frame's mask, moved along the motion by the
mask node (cloudseg_ros/mask/propagate.py), so what skipping costs grows with what changed
since the last frame SENT and with how many frames in a row are served that way. Hence the
``staleness`` of a frame: the sum, over the frames since the last one sent (the skipped
ones and this one), of each one's deviation from that last sent frame. A frame whose
staleness reaches ``useful_threshold`` is sent (USEFUL, or KEY by its own threshold).

Why a sum (bench/selector.py, README "Frame selection"): on a moving scene a propagated mask
loses more with every further frame, while the deviation score saturates with distance and
varies from frame to frame about as much as one frame of motion changes it; thresholding the
deviation alone skipped two or three frames in a row where the score happened to be low,
and sent fewer frames than a plain every-other-frame cap for more mIoU loss. The sum makes a
moving robot skip single frames (the cheap ones to propagate) and a robot standing still,
whose frames differ by sensor noise alone (~0.01-0.02 each), skip long runs.

A KEY is forced every ``max_key_interval`` frames and when asked (after an IDR request, a
stream restart), so the reference never goes stale. Thresholds can change between any two
frames.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from cloudseg_ros.mask.propagate import make_flow
from cloudseg_ros.selector.features import Features, deviation, extract, unexplained


class Selection(enum.IntEnum):
    KEY = 0  # same values as EncodedFrame.SELECTION_*
    USEFUL = 1
    SKIP = 2


@dataclass(frozen=True)
class Decision:
    selection: Selection
    score: float  # what decided: ``key_score`` for a KEY, ``staleness`` for USEFUL and SKIP
    reason: str  # "threshold", "first", "interval", "forced"
    key_score: float = 1.0  # deviation from the last KEY frame
    staleness: float = 1.0  # sum of deviations from the last frame sent, since it (see above)


class FrameSelector:
    def __init__(
        self, key_threshold: float = 0.3, useful_threshold: float = 0.05, max_key_interval: int = 30
    ) -> None:
        self.configure(key_threshold, useful_threshold, max_key_interval)
        self._reference: Features | None = None  # last KEY
        self._sent: Features | None = None  # last frame sent (KEY or USEFUL)
        self._staleness = 0.0  # of the frames skipped since the last frame sent
        self._flow = make_flow()
        self._since_key = 0
        self._force = False

    def configure(self, key_threshold: float, useful_threshold: float, max_key_interval: int) -> None:
        # Independent: useful_threshold decides sending (staleness), key_threshold which sent
        # frames are KEYs (deviation from the last KEY); useful above key is fine (more KEYs).
        for name, value in (("key_threshold", key_threshold), ("useful_threshold", useful_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if max_key_interval < 1:
            raise ValueError(f"max_key_interval must be >= 1, got {max_key_interval}")
        self.key_threshold = key_threshold
        self.useful_threshold = useful_threshold
        self.max_key_interval = max_key_interval

    def force_key(self) -> None:
        """Make the next frame a KEY whatever its score."""
        self._force = True

    def select(self, rgb: np.ndarray) -> Decision:
        """The decision for this frame; a frame not skipped is assumed sent (the edge checks
        its rate cap and credit BEFORE asking, so that holds)."""
        features = extract(rgb)
        if self._reference is None or self._sent is None:
            return self._key(features, 1.0, 1.0, "first")
        key_score = deviation(features, self._reference)
        change = unexplained(features, self._sent, self._flow)
        staleness = self._staleness + change
        self._since_key += 1
        if self._force:
            return self._key(features, key_score, staleness, "forced")
        if self._since_key >= self.max_key_interval:
            return self._key(features, key_score, staleness, "interval")
        if staleness < self.useful_threshold:
            self._staleness = staleness
            return Decision(Selection.SKIP, staleness, "threshold", key_score, staleness)
        if key_score >= self.key_threshold:
            return self._key(features, key_score, staleness, "threshold")
        self._sent, self._staleness = features, 0.0
        return Decision(Selection.USEFUL, staleness, "threshold", key_score, staleness)

    def _key(self, features: Features, key_score: float, staleness: float, reason: str) -> Decision:
        self._reference = self._sent = features
        self._staleness = 0.0
        self._since_key = 0
        self._force = False
        return Decision(Selection.KEY, key_score, reason, key_score, staleness)
