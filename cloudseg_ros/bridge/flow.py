"""Credit-based flow control: at most N frames in flight between robot and cloud.

A frame is "in flight" from the moment it is sent until the cloud's feedback
acknowledges it (feedback carries the last sequence number received, and
acknowledges everything up to it). Waiting for credit instead of queueing keeps
latency bounded on a slow link: frames that cannot be sent now are never encoded
(edge) or are replaced by newer ones (bridge), so nothing piles up. Entries older
than ``timeout_s`` expire, so a lost feedback message cannot stall the stream.

Expiry backs off like TCP's retransmission timer: each expiry without an
acknowledgement in between doubles the timeout (up to ``MAX_BACKOFF`` x), and the
next acknowledgement restores it. Feedback is rarely lost (the bridge is reliable
and resets the window when its session reconnects); a link that stopped for
seconds is the usual cause, and every frame sent into it on a fixed timer only
lengthens the queue the first masks after the pause wait behind.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

MAX_BACKOFF = 4  # the timeout grows to at most this multiple while nothing is acknowledged


class InFlightWindow:
    """Sequence numbers sent and not yet acknowledged, bounded by ``max_in_flight``."""

    def __init__(self, max_in_flight: int, timeout_s: float = 2.0) -> None:
        self._cond = threading.Condition()
        self._sent: OrderedDict[int, float] = OrderedDict()  # seq -> send time (monotonic)
        self._backoff = 1  # timeout multiplier: doubled by each expiry, reset by an acknowledgement
        self.configure(max_in_flight, timeout_s)
        self.expired = 0

    def configure(self, max_in_flight: int, timeout_s: float) -> None:
        """``max_in_flight`` 0 disables the window (always room)."""
        if max_in_flight < 0 or timeout_s <= 0:
            raise ValueError(f"bad window: max_in_flight={max_in_flight}, timeout_s={timeout_s}")
        with self._cond:
            self.max_in_flight = max_in_flight
            self.timeout_s = timeout_s
            self._cond.notify_all()

    @property
    def current_timeout_s(self) -> float:
        """The timeout with its backoff (what the oldest entry must be older than to expire)."""
        return self.timeout_s * self._backoff

    def _expire(self, now: float) -> None:
        while self._sent:
            seq, t = next(iter(self._sent.items()))
            if now - t < self.current_timeout_s:
                break
            del self._sent[seq]
            self.expired += 1
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)

    def in_flight(self, now: float | None = None) -> int:
        with self._cond:
            self._expire(time.monotonic() if now is None else now)
            return len(self._sent)

    def has_room(self, now: float | None = None) -> bool:
        return self.max_in_flight == 0 or self.in_flight(now) < self.max_in_flight

    def wait_for_room(self, timeout: float) -> bool:
        """Block until a frame may be sent (or ``timeout`` seconds pass)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self.max_in_flight == 0 or len(self._sent) < self.max_in_flight:
                    return True
                oldest = next(iter(self._sent.values()))
                wait = min(deadline, oldest + self.current_timeout_s) - now
                if now >= deadline:
                    return False
                self._cond.wait(max(wait, 0.001))

    def sent(self, seq: int, now: float | None = None) -> None:
        with self._cond:
            self._sent[seq] = time.monotonic() if now is None else now

    def acknowledge(self, last_seq: int) -> int:
        """Everything up to ``last_seq`` arrived (or was given up); returns how many were freed."""
        with self._cond:
            done = [s for s in self._sent if s <= last_seq]
            for s in done:
                del self._sent[s]
            if done:
                self._backoff = 1
                self._cond.notify_all()
            return len(done)

    def reset(self) -> None:
        with self._cond:
            self._sent.clear()
            self._backoff = 1
            self._cond.notify_all()
