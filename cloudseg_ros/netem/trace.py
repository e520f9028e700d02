"""Mahimahi link traces: when the link could deliver a packet, turned into a rate over time.

A mahimahi trace file has one integer per line: a millisecond timestamp at which one
1500-byte packet may be delivered (several lines may share a millisecond; the trace
repeats when it ends, with the period of its last timestamp). Shaping with ``tc`` needs a
rate per interval, so :meth:`Trace.rate_kbps` averages the delivery opportunities of one
interval. Intervals without any are clamped to ``floor_kbps`` (a token bucket cannot
have rate 0; at the default floor a 1500-byte packet takes 1.5 s, as good as an outage).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cloudseg_ros.errors import ConfigError

PACKET_BYTES = 1500
# The rate set while the trace offers nothing (an outage): the lowest a tbf keeps a full-size
# packet's burst at (below ~1 kbit/s tc shrinks the burst under the MTU and drops packets).
# It was 8 kbit/s, which let ~4 of the smallest frames a second through an outage.
FLOOR_KBPS = 1.0
OUTAGE_S = 1.0  # no delivery opportunity for this long is an outage (a slow link has gaps too)


@dataclass(frozen=True)
class Trace:
    """Delivery opportunities (ms, sorted) of one period of a mahimahi trace."""

    name: str
    opportunities_ms: tuple[int, ...]
    period_ms: int

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"trace file not found: {path}")
        values = []
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise ConfigError(
                f"trace file {path}: not text (a mahimahi trace is one ms timestamp per line)"
            ) from None
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            try:
                v = int(line)
            except ValueError:
                raise ConfigError(
                    f"trace file {path}, line {n}: {line[:40]!r} is not an integer (ms)"
                ) from None
            if v < 0 or (values and v < values[-1]):
                raise ConfigError(f"trace file {path}, line {n}: timestamps must be >= 0 and not decrease")
            values.append(v)
        if not values or values[-1] <= 0:
            raise ConfigError(f"trace file {path}: no delivery opportunities (an empty or all-zero trace)")
        return cls(path.name, tuple(values), values[-1])

    @classmethod
    def constant(cls, kbps: float, period_ms: int = 1000, name: str = "constant") -> Trace:
        """A trace with an even rate (tests, calibration)."""
        count = max(1, round(kbps * period_ms / (PACKET_BYTES * 8)))
        ops = tuple(round((i + 1) * period_ms / count) for i in range(count))
        return cls(name, ops, period_ms)

    @classmethod
    def piecewise(cls, segments: Sequence[tuple[float, float]], name: str = "piecewise") -> Trace:
        """A trace of ``(seconds, kbps)`` segments, one after the other (one period). A
        segment at 0 kbit/s is an outage; the shaper then runs at its floor."""
        if not segments or any(
            not (math.isfinite(sec) and math.isfinite(kbps)) or sec <= 0 or kbps < 0 for sec, kbps in segments
        ):
            raise ConfigError(f"trace {name}: segments must be (seconds > 0, kbps >= 0), got {segments!r}")
        ops: list[int] = []
        t0_ms, acc = 0, 0.0
        for seconds, kbps in segments:
            per_ms = kbps / (PACKET_BYTES * 8)  # packets per ms
            t1_ms = t0_ms + round(seconds * 1000)
            for ms in range(t0_ms, t1_ms):
                acc += per_ms
                while acc >= 1:
                    ops.append(ms + 1)
                    acc -= 1
            acc = 0.0
            t0_ms = t1_ms
        if not ops:
            raise ConfigError(f"trace {name}: no delivery opportunities (every segment at 0 kbit/s)")
        if ops[-1] < t0_ms:
            ops.append(t0_ms)  # the period is the segments' length (one packet at its end)
        return cls(name, tuple(ops), t0_ms)

    def write(self, path: str | Path) -> Path:
        """Save as a mahimahi file (one period)."""
        path = Path(path)
        path.write_text("\n".join(map(str, self.opportunities_ms)) + "\n")
        return path

    def _count(self, t0_ms: float, t1_ms: float) -> int:
        """Opportunities in [t0, t1), the trace repeating with its period."""
        if t1_ms <= t0_ms:
            return 0
        period, ops = self.period_ms, self.opportunities_ms

        def upto(t: float) -> int:  # opportunities in [0, t)
            cycles, rest = divmod(t, period)
            return int(cycles) * len(ops) + bisect.bisect_left(ops, rest)

        return upto(t1_ms) - upto(t0_ms)

    def rate_kbps(self, t0_s: float, t1_s: float, floor_kbps: float = FLOOR_KBPS) -> float:
        """Mean rate the link offers between t0 and t1 (seconds into the trace)."""
        n = self._count(t0_s * 1e3, t1_s * 1e3)
        return max(floor_kbps, n * PACKET_BYTES * 8 / (t1_s - t0_s) / 1e3)

    def window(self, t0_s: float, step_s: float, max_steps: int, refill_bytes: float) -> tuple[int, float]:
        """Steps from ``t0_s`` until the next rate change and the rate over them, as a shaper
        should set it: one rate per window holding ``4 * refill_bytes`` of the trace's bytes
        (each change refills the token bucket, so changes must be rare next to the rate), at
        most ``max_steps``, and never across the start or the end of an outage (no delivery
        opportunity for OUTAGE_S or more), which runs at FLOOR_KBPS: a window averaged across
        one gave an outage's tail the rate after it."""

        def empty(i: int) -> bool:
            return self._count((t0_s + i * step_s) * 1e3, (t0_s + (i + 1) * step_s) * 1e3) == 0

        def in_outage(i: int) -> bool:  # step i is part of OUTAGE_S or more without an opportunity
            if not empty(i):
                return False
            run = 1
            for direction in (-1, 1):
                k = i + direction
                while run < outage and empty(k):
                    run, k = run + 1, k + direction
            return run >= outage

        outage = max(1, round(OUTAGE_S / step_s))
        if in_outage(0):  # to its end, at the floor
            n = 1
            while n < max_steps and in_outage(n):
                n += 1
            return n, FLOOR_KBPS
        n = 1
        while (
            n < max_steps
            and not in_outage(n)
            and self.rate_kbps(t0_s, t0_s + n * step_s, 0.0) * 125 * n * step_s < 4 * refill_bytes
        ):
            n += 1
        return n, self.rate_kbps(t0_s, t0_s + n * step_s)

    def series(self, duration_s: float, step_s: float, offset_s: float = 0.0) -> np.ndarray:
        """Rates [kbps] of consecutive ``step_s`` intervals from ``offset_s`` on."""
        steps = max(1, round(duration_s / step_s))
        return np.array(
            [self.rate_kbps(offset_s + i * step_s, offset_s + (i + 1) * step_s) for i in range(steps)]
        )

    def median_kbps(self, duration_s: float, offset_s: float = 0.0, step_s: float = 1.0) -> float:
        """Median of the per-second rate over the part of the trace a run uses."""
        return float(np.median(self.series(duration_s, step_s, offset_s)))

    def mean_kbps(self) -> float:
        return len(self.opportunities_ms) * PACKET_BYTES * 8 / self.period_ms
