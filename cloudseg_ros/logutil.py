"""Logging that stays readable under a flood: one line per burst of the same problem."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class BurstLog:
    """Logs the first failure of a burst, counts the rest, and reports the count when the
    burst ends (at the next success, or on the first failure after ``quiet_s`` of calm)."""

    def __init__(self, write: Callable[[str], None], quiet_s: float = 5.0) -> None:
        self._write = write
        self._quiet_s = quiet_s
        self._bursts: dict[str, tuple[int, float]] = {}  # key -> (suppressed count, last failure time)

    @classmethod
    def for_logger(cls, logger: logging.Logger | logging.LoggerAdapter, quiet_s: float = 5.0) -> BurstLog:
        return cls(logger.warning, quiet_s)

    def failure(self, key: str, message: str) -> None:
        now = time.monotonic()
        count, last = self._bursts.get(key, (-1, 0.0))
        if count >= 0 and now - last > self._quiet_s:
            self._close(key, count)
            count = -1
        if count < 0:
            self._write(f"{key}: {message} (further failures counted, reported when they stop)")
        self._bursts[key] = (count + 1, now)

    def success(self, key: str) -> None:
        if key in self._bursts:
            self._close(key, self._bursts[key][0])

    def _close(self, key: str, suppressed: int) -> None:
        self._bursts.pop(key, None)
        if suppressed > 0:
            self._write(f"{key}: {suppressed} more failures in that burst")
