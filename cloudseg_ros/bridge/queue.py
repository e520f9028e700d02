"""A bounded, thread-safe queue where the newest item wins.

Used wherever data crosses threads (ROS callback -> zenoh sender, zenoh callback
-> ROS publisher, decoder -> inference worker): a slow consumer never makes the
queue grow; the oldest item is dropped and counted instead, so memory stays flat
and what is delivered is as fresh as possible.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestQueue(Generic[T]):
    """FIFO of at most ``maxlen`` items; ``put`` on a full queue drops the oldest."""

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    @property
    def maxlen(self) -> int:
        return self._maxlen

    def resize(self, maxlen: int) -> None:
        """Change the bound; drops the oldest items if it shrinks."""
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        with self._cond:
            self._maxlen = maxlen
            while len(self._items) > maxlen:
                self._items.popleft()
                self.dropped += 1

    def put(self, item: T) -> T | None:
        """Append ``item``; returns the item dropped to make room, if any."""
        with self._cond:
            dropped = None
            if len(self._items) >= self._maxlen:
                dropped = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self._cond.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T | None:
        """Oldest item, waiting up to ``timeout`` seconds; None on timeout or when closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def get_nowait(self) -> T | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def clear(self) -> int:
        with self._cond:
            n = len(self._items)
            self._items.clear()
            return n

    def close(self) -> None:
        """Wake every waiting consumer; later ``get`` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
