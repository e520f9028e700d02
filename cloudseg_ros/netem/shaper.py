"""Shaping the uplink and watching its queue: ``tc`` in a namespace, or the relay on loopback.

Both shapers offer the same calls: ``set_rate(kbps)``, ``sample()`` (bytes waiting at the
shaper, bytes sent, drops) and ``set_link(up)`` (a partition: nothing passes either way).
:class:`TraceDriver` plays a mahimahi trace through either, one rate per ``step_s``, cuts
the link during the partitions it is given, and records the link rate and the shaper's
queue over time, which is how the experiment shows that the queue stays bounded.

A partition takes the robot's veth down (``ip link set DEV down``; its peer loses carrier,
so nothing passes in either direction, and the kernel drops what waited in the qdisc). The
address and the tbf qdisc survive that, the route to the peer comes back with the link
(checked on this kernel); the tbf is set again anyway after the link is up. On loopback
the relay blackholes both directions (see relay.py).

:class:`TcShaper` puts a token bucket filter (``tbf``) on the robot's veth (the robot's
egress is the uplink) and keeps ONE ``tc -batch`` process for all changes and readings:
starting a process per change would cost more CPU than the robot graph on a small host.
The bucket depth (burst) is one packet, so a frame cannot pass at line rate;
``limit_bytes`` bounds the queue (a cellular buffer).

A ``tc qdisc change`` refills the token bucket (measured: toggling a tbf between 8 and
120 kbit/s every 100 ms delivered 77 kbit/s instead of 64; htb keeps its token debt
across a change instead and delivered 29). So the driver changes the rate no more often
than a window that holds at least four bursts of the trace's bytes (100 ms from 512
kbit/s up, up to a second on a slower link): a refill then adds at most a quarter.
Measured with one TCP flow (payload bytes): 60 kbit/s on a 58 kbit/s trace, 290 on 298,
1921 on 1998 (test_netem.py checks the slow case).
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cloudseg_ros.errors import CloudsegError
from cloudseg_ros.netem.namespaces import netns_exec
from cloudseg_ros.netem.trace import Trace

BURST = 1600  # bytes: one full Ethernet frame and change


class ShaperError(CloudsegError):
    pass


@dataclass
class QueueSample:
    """The shaper's state at one moment."""

    backlog_bytes: int
    backlog_packets: int
    sent_bytes: int
    dropped: int


class Shaper(Protocol):
    refill_bytes: int  # bytes a rate change lets through on top of the new rate

    def set_rate(self, kbps: float) -> None: ...
    def set_link(self, up: bool) -> None: ...
    def sample(self) -> QueueSample: ...
    def close(self) -> None: ...


_SENT = re.compile(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+)")
_BACKLOG = re.compile(r"backlog (\d+)([KMG]?)b (\d+)p")
_UNITS = {"": 1, "K": 1000, "M": 1000_000, "G": 1000_000_000}


def parse_qdisc(text: str) -> QueueSample:
    """Numbers of ``tc -s qdisc show`` for one qdisc."""
    sent, backlog = _SENT.search(text), _BACKLOG.search(text)
    if not sent or not backlog:
        raise ShaperError(f"unexpected tc output: {text.strip()[:200]!r}")
    return QueueSample(
        backlog_bytes=int(backlog.group(1)) * _UNITS[backlog.group(2)],
        backlog_packets=int(backlog.group(3)),
        sent_bytes=int(sent.group(1)),
        dropped=int(sent.group(3)),
    )


class TcShaper:
    """A tbf qdisc on ``dev`` inside ``netns`` whose rate is changed live."""

    refill_bytes = BURST

    def __init__(self, netns: str | None, dev: str, rate_kbps: float, limit_bytes: int = 512_000) -> None:
        if not shutil.which("tc"):
            raise ShaperError("tc (iproute2) not found")
        self.netns, self.dev, self.limit_bytes = netns, dev, limit_bytes
        line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        self._proc = subprocess.Popen(
            netns_exec(netns, [*line_buffered, "tc", "-s", "-force", "-batch", "-"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )  # fmt: skip
        self._lock = threading.Lock()
        self.rate_kbps = rate_kbps
        self._tbf("replace", rate_kbps)
        self.sample()  # fails here, clearly, if the qdisc did not take

    def _send(self, line: str) -> None:
        if self._proc.poll() is not None or self._proc.stdin is None:
            raise ShaperError(f"tc batch process exited ({self._proc.returncode})")
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def _tbf(self, verb: str, kbps: float) -> None:
        rate = max(1, round(kbps * 1000))
        with self._lock:
            self._send(f"qdisc {verb} dev {self.dev} root tbf rate {rate}bit burst {BURST} "
                       f"limit {self.limit_bytes}")  # fmt: skip

    def set_rate(self, kbps: float) -> None:
        self.rate_kbps = kbps
        self._tbf("change", kbps)

    def set_link(self, up: bool) -> None:
        where = ["-n", self.netns] if self.netns else []
        cmd = ["ip", *where, "link", "set", self.dev, "up" if up else "down"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        if res.returncode != 0:
            raise ShaperError(f"{' '.join(cmd)}: {res.stderr.strip()}")
        if up:
            self._tbf("replace", self.rate_kbps)

    def sample(self) -> QueueSample:
        with self._lock:
            self._send(f"qdisc show dev {self.dev}")
            assert self._proc.stdout is not None
            lines = []
            for _ in range(6):  # the qdisc line, "Sent ...", "backlog ..." (errors come first)
                line = self._proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "backlog" in line:
                    break
        return parse_qdisc("".join(lines))

    def close(self) -> None:
        with contextlib.suppress(Exception), self._lock:
            self._send(f"qdisc del dev {self.dev} root")
        with contextlib.suppress(Exception):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(3)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(3)


@dataclass
class LinkRecord:
    """What the trace driver saw, one row per step."""

    t: list[float] = field(default_factory=list)  # monotonic seconds
    rate_kbps: list[float] = field(default_factory=list)
    backlog_bytes: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    sent_bytes: list[int] = field(default_factory=list)
    partitions: list[list[float]] = field(default_factory=list)  # [cut, restored] (monotonic seconds)


class TraceDriver:
    """Plays ``trace`` through ``shaper`` from ``offset_s`` in a thread; samples the queue every
    ``step_s`` and changes the rate every step or, on a slow link, every few (see above).
    ``partitions`` are (start, duration) in seconds after ``start()``: the link is cut then
    (rate 0 in the record) and restored after, also when the driver stops in one."""

    def __init__(
        self,
        shaper: Shaper,
        trace: Trace,
        step_s: float = 0.1,
        offset_s: float = 0.0,
        max_window_s: float = 1.0,
        partitions: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.shaper, self.trace, self.step_s, self.offset_s = shaper, trace, step_s, offset_s
        self.partitions = [(float(a), float(a) + float(d)) for a, d in partitions]
        self.max_steps = max(1, round(max_window_s / step_s))
        self.record = LinkRecord()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trace-driver", daemon=True)
        self.started_at: float | None = None
        self.error: str | None = None
        self.cut = False

    def start(self) -> TraceDriver:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def window(self, t0: float) -> tuple[int, float]:
        """Steps until the next change and the trace's mean rate over them, from trace time ``t0``."""
        return self.trace.window(t0, self.step_s, self.max_steps, self.shaper.refill_bytes)

    def _set_link(self, up: bool) -> None:
        """Cut (up=False) or restore the link, and record when."""
        self.shaper.set_link(up)
        self.cut = not up
        now = time.monotonic()
        if up:
            self.record.partitions[-1][1] = now
        else:
            self.record.partitions.append([now, math.nan])

    def _run(self) -> None:
        assert self.started_at is not None
        k, change_at = 0, 0
        while not self._stop.is_set():
            t0 = self.offset_s + k * self.step_s
            elapsed = time.monotonic() - self.started_at
            try:
                if any(a <= elapsed < b for a, b in self.partitions) != self.cut:
                    self._set_link(self.cut)
                if k >= change_at:
                    n, rate = self.window(t0)
                    self.shaper.set_rate(rate)
                    change_at = k + n
                q = self.shaper.sample()
            except Exception as exc:  # report, do not die silently
                self.error = str(exc)
                return
            r = self.record
            r.t.append(time.monotonic())
            r.rate_kbps.append(0.0 if self.cut else self.trace.rate_kbps(t0, t0 + self.step_s))
            r.backlog_bytes.append(q.backlog_bytes)
            r.dropped.append(q.dropped)
            r.sent_bytes.append(q.sent_bytes)
            k += 1
            self._stop.wait(max(0.0, self.started_at + k * self.step_s - time.monotonic()))

    def stop(self) -> LinkRecord:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.cut and not self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._set_link(True)
        return self.record


class RelayShaper:
    """The relay's own pacing (loopback fallback), driven over its stdin/stdout."""

    refill_bytes = 0  # it paces every packet: a change grants nothing

    def __init__(self, proc: subprocess.Popen) -> None:
        if proc.stdin is None or proc.stdout is None:
            raise ShaperError("the relay must be started with stdin and stdout pipes")
        self._proc = proc
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        if self._proc.poll() is not None:
            raise ShaperError(f"relay exited ({self._proc.returncode})")
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()

    def set_rate(self, kbps: float) -> None:
        with self._lock:
            self._send(f"rate {kbps:.3f}")

    def set_link(self, up: bool) -> None:
        with self._lock:
            self._send(f"blackhole {'off' if up else 'on'}")

    def sample(self) -> QueueSample:
        import json

        with self._lock:
            self._send("stats")
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
        try:
            s = json.loads(line)
        except ValueError:
            raise ShaperError(f"unexpected relay answer: {line.strip()[:200]!r}") from None
        return QueueSample(int(s["backlog_bytes"]), 0, int(s["sent_bytes"]), int(s["dropped"]))

    def close(self) -> None:
        pass  # the relay is one of the run's processes; the run stops it
