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

A second frame goes out behind one in flight only while the link is quick (``slow_s``):
no acknowledged frame crossed, round trip less the cloud's processing time, slower than
``slow_s`` in the last ``slow_memory_s``, and the frame in flight has not been out longer
than ``slow_s`` plus the cloud's last processing time. Pipelining hides the cloud's
processing on a good link; on a link that trickles (a cellular uplink carrying a packet
a second for seconds, between bursts) the second frame would only wait behind the
first, and both masks would come back seconds late. On the UMTS driving trace most
masks over a second came in such pairs, and the trickles recur within seconds, one
quick frame in a burst between them: hence the memory. ``slow_s`` 0 turns the check
off (the bridge's window, which must never hold back a frame the edge has already
encoded, runs so).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

MAX_BACKOFF = 4  # the timeout grows to at most this multiple while nothing is acknowledged


class InFlightWindow:
    """Sequence numbers sent and not yet acknowledged, bounded by ``max_in_flight``."""

    def __init__(
        self, max_in_flight: int, timeout_s: float = 2.0, slow_s: float = 0.0, slow_memory_s: float = 5.0
    ) -> None:
        self._cond = threading.Condition()
        self._sent: OrderedDict[int, float] = OrderedDict()  # seq -> send time (monotonic)
        self._gone: OrderedDict[int, float] = OrderedDict()  # expired: seq -> send time
        self._backoff = 1  # timeout multiplier: doubled by each expiry, reset by an acknowledgement
        self.last_crossing_s = 0.0  # the last acknowledged frame: round trip less the cloud's time
        self._server_s = 0.0  # the cloud's processing time of that frame
        self._slow_seen_at: float | None = None  # when the last slow crossing was acknowledged
        self.slow_memory_s = slow_memory_s
        self.configure(max_in_flight, timeout_s, slow_s)
        self.expired = 0
        self.held_slow = 0  # has_room() refusals with room in the count: the link was slow

    def configure(self, max_in_flight: int, timeout_s: float, slow_s: float | None = None) -> None:
        """``max_in_flight`` 0 disables the window (always room); ``slow_s`` None keeps it."""
        slow_s = self.slow_s if slow_s is None else slow_s
        if max_in_flight < 0 or timeout_s <= 0 or slow_s < 0:
            raise ValueError(
                f"bad window: max_in_flight={max_in_flight}, timeout_s={timeout_s}, slow_s={slow_s}"
            )
        with self._cond:
            self.max_in_flight = max_in_flight
            self.timeout_s = timeout_s
            self.slow_s = slow_s
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
            self._gone[seq] = t  # its late acknowledgement still measures the link
            while len(self._gone) > 16:
                self._gone.popitem(last=False)
            self.expired += 1
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)

    def in_flight(self, now: float | None = None) -> int:
        with self._cond:
            self._expire(time.monotonic() if now is None else now)
            return len(self._sent)

    def _room(self, now: float) -> bool:
        """May a frame go out now? (lock held)"""
        if self.max_in_flight == 0:
            return True
        self._expire(now)
        n = len(self._sent)
        if n == 0:
            return True
        if n >= self.max_in_flight:
            return False
        return not self._slow(now)

    def _slow(self, now: float) -> bool:
        """Does the link look too slow to pipeline a frame behind the one in flight? (lock held)"""
        if self.slow_s <= 0:
            return False
        if self._slow_seen_at is not None and now - self._slow_seen_at < self.slow_memory_s:
            return True
        return now - next(iter(self._sent.values())) > self.slow_s + self._server_s

    def has_room(self, now: float | None = None) -> bool:
        with self._cond:
            room = self._room(time.monotonic() if now is None else now)
            if not room and 0 < len(self._sent) < self.max_in_flight:
                self.held_slow += 1
            return room

    def wait_for_room(self, timeout: float) -> bool:
        """Block until a frame may be sent (or ``timeout`` seconds pass)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                if self._room(now):
                    return True
                oldest = next(iter(self._sent.values()))
                wait = min(deadline, oldest + self.current_timeout_s) - now
                if now >= deadline:
                    return False
                self._cond.wait(max(wait, 0.001))

    def sent(self, seq: int, now: float | None = None) -> None:
        with self._cond:
            self._sent[seq] = time.monotonic() if now is None else now

    def acknowledge(self, last_seq: int, server_s: float = 0.0, now: float | None = None) -> int:
        """Everything up to ``last_seq`` arrived (or was given up); returns how many were freed.

        ``server_s``: the cloud's processing time of frame ``last_seq`` (Feedback.server_ms),
        taken out of its round trip to tell a slow link from a busy cloud."""
        now = time.monotonic() if now is None else now
        with self._cond:
            done = [s for s in self._sent if s <= last_seq]
            sent_at = self._sent.get(last_seq, self._gone.pop(last_seq, None))
            if sent_at is not None:
                # The cloud's time is part of the round trip: a claim beyond it (a bogus
                # feedback field) must not make every later frame look quick.
                round_trip = max(0.0, now - sent_at)
                self._server_s = min(round_trip, server_s) if server_s > 0 else 0.0
                self.last_crossing_s = round_trip - self._server_s
                if self.slow_s > 0 and self.last_crossing_s > self.slow_s:
                    self._slow_seen_at = now
            for s in done:
                del self._sent[s]
            if done:
                self._backoff = 1
                self._cond.notify_all()
            return len(done)

    def reset(self) -> None:
        with self._cond:
            self._sent.clear()
            self._gone.clear()
            self._backoff = 1
            self._cond.notify_all()
