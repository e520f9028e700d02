"""Latency statistics over a sliding window (bounded memory, however long the run)."""

from __future__ import annotations

from collections import deque

import numpy as np


class LatencyWindow:
    """The last ``size`` samples in milliseconds, with percentiles."""

    def __init__(self, size: int = 1000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, ms: float) -> None:
        self._samples.append(float(ms))
        self.count += 1

    def merge(self, other: LatencyWindow) -> None:
        for v in other._samples:
            self._samples.append(v)
        self.count += other.count

    def percentile(self, q: float) -> float:
        return float(np.percentile(self._samples, q)) if self._samples else float("nan")

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "max_ms": max(self._samples) if self._samples else float("nan"),
        }
