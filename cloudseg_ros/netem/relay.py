"""A small user-space TCP relay that adds delay and loss (and, on loopback, the rate).

This kernel has no ``netem`` qdisc, so propagation delay and loss come from here: the
relay sits between the robot's zenoh client and the cloud's zenoh listener and holds
every chunk it reads for ``delay_ms`` before writing it on, in order, both directions.

Loss on a TCP path is not lost bytes (TCP repairs it) but a stall: the segments behind a
lost one wait for its retransmission. So each 1500-byte segment is "lost" with
probability ``loss``, and then that chunk and everything after it wait one more round
trip (2 x delay) plus 10 ms, which is how long a fast retransmit takes.

Where network namespaces cannot be made, the relay also shapes the uplink: it writes the
robot-to-cloud direction no faster than the rate it is told (``rate KBPS`` lines on
stdin, from the trace driver), and stops reading once ``queue_bytes`` wait, so TCP flow
control pushes back to the robot the way a full bottleneck queue does. ``stats`` on stdin
answers one JSON line (bytes waiting, bytes sent) so the same driver can watch the queue.

``blackhole on`` on stdin partitions the link (``blackhole off`` ends it): nothing passes in
either direction and no new connection reaches the target. The relay neither drops nor
forwards meanwhile: it stops reading and writing, so what the peers send waits in their
TCP buffers (bounded by the socket buffers, and at most one chunk already read per
direction) and is delivered afterwards, in order, if the connection survived the
partition; that is what TCP retransmission does after a real one. Dropping bytes instead
would corrupt the stream, which no real link does to TCP.

  python -m cloudseg_ros.netem.relay --listen 10.213.0.2:7448 --target 127.0.0.1:7447 --delay-ms 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import signal
import socket
import sys
import threading
import time
from collections import deque

SEGMENT = 1500
SOCKET_BUFFER = 64 * 1024  # keep the kernel's own queues small: the queue is ours, and measured


class Direction:
    """One direction of one connection: read, hold, (pace), write."""

    def __init__(self, src: socket.socket, dst: socket.socket, relay: Relay, uplink: bool) -> None:
        self.src, self.dst, self.relay, self.uplink = src, dst, relay, uplink
        self.queue: deque[tuple[float, bytes]] = deque()  # (release time, data)
        self.cond = threading.Condition()
        self.waiting = 0  # bytes read and not yet written
        self.sent = 0
        self.closed = False
        self._last_release = 0.0
        self._next_free = 0.0  # pacing: when the (emulated) link is free again

    def start(self) -> None:
        for target in (self._read, self._write):
            threading.Thread(target=target, daemon=True).start()

    def _read(self) -> None:
        r = self.relay
        try:
            while True:
                with self.cond:
                    while (
                        self.uplink and r.rate_kbps > 0 and self.waiting > r.queue_bytes and not self.closed
                    ):
                        self.cond.wait(0.05)
                r.passing.wait()  # partitioned: leave it in the peer's TCP buffers
                data = self.src.recv(65536)
                if not data:
                    break
                now = time.monotonic()
                release = now + r.delay_s
                segments = math.ceil(len(data) / SEGMENT)
                if r.loss > 0 and any(r.rng.random() < r.loss for _ in range(segments)):
                    release += 2 * r.delay_s + 0.010
                release = max(release, self._last_release)  # TCP keeps order
                self._last_release = release
                with self.cond:
                    self.queue.append((release, data))
                    self.waiting += len(data)
                    self.cond.notify_all()
        except OSError:
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def _write(self) -> None:
        r = self.relay
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.closed:
                        self.cond.wait(0.1)
                    if not self.queue:
                        break
                    release, data = self.queue[0]
                wait = release - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                for i in range(0, len(data), SEGMENT):
                    r.passing.wait()
                    piece = data[i : i + SEGMENT]
                    rate = r.rate_kbps if self.uplink else 0.0
                    if rate > 0:
                        start = max(time.monotonic(), self._next_free)
                        self._next_free = start + len(piece) * 8 / (rate * 1e3)
                        pause = self._next_free - time.monotonic()
                        if pause > 0:
                            time.sleep(pause)
                    self.dst.sendall(piece)
                    with self.cond:
                        self.waiting -= len(piece)
                        self.sent += len(piece)
                        self.cond.notify_all()
                with self.cond:
                    self.queue.popleft()
        except OSError:  # a peer went away: end both directions
            for s in (self.src, self.dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):  # the sender finished: pass its FIN on, keep the way back open
            self.dst.shutdown(socket.SHUT_WR)


class Relay:
    """Accepts connections on ``listen`` and relays each to ``target``."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay_ms: float = 0.0,
                 loss: float = 0.0, rate_kbps: float = 0.0, queue_bytes: int = 512_000, seed: int = 0) -> None:  # fmt: skip
        if delay_ms < 0 or not 0 <= loss < 1 or rate_kbps < 0 or queue_bytes <= 0:
            raise ValueError("need delay_ms >= 0, 0 <= loss < 1, rate_kbps >= 0, queue_bytes > 0")
        self.target = target
        self.delay_s, self.loss, self.rate_kbps, self.queue_bytes = (
            delay_ms / 1e3,
            loss,
            rate_kbps,
            queue_bytes,
        )
        self.rng = random.Random(seed)
        self.passing = threading.Event()  # cleared while the link is partitioned (blackhole)
        self.passing.set()
        self.uplinks: list[Direction] = []
        self.server = socket.create_server(listen, reuse_port=False)
        self.address = self.server.getsockname()[:2]

    def serve_forever(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.passing.wait()  # a partition lets no connection through either
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            up = Direction(client, upstream, self, uplink=True)
            down = Direction(upstream, client, self, uplink=False)
            self.uplinks = [d for d in self.uplinks if not d.closed] + [up]
            up.start()
            down.start()

    def blackhole(self, on: bool) -> None:
        """Partition the link (on) or end the partition (off)."""
        if on:
            self.passing.clear()
        else:
            self.passing.set()

    def stats(self) -> dict[str, int]:
        return {"backlog_bytes": sum(d.waiting for d in self.uplinks), "sent_bytes": sum(d.sent for d in self.uplinks),
                "dropped": 0, "blackhole": int(not self.passing.is_set())}  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _control(relay: Relay) -> None:
    """stdin: ``rate KBPS`` sets the uplink rate (0 = unlimited), ``blackhole on|off`` starts or
    ends a partition, ``stats`` prints one JSON line."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "rate" and len(words) == 2:
            relay.rate_kbps = max(0.0, float(words[1]))
        elif words[0] == "blackhole" and len(words) == 2 and words[1] in ("on", "off"):
            relay.blackhole(words[1] == "on")
        elif words[0] == "stats":
            print(json.dumps(relay.stats()), flush=True)
    relay.close()  # our owner went away


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="HOST:PORT to accept the robot on (PORT 0 = any)")
    p.add_argument("--target", required=True, help="HOST:PORT of the cloud's zenoh listener")
    p.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay added in each direction")
    p.add_argument("--loss", type=float, default=0.0, help="probability a 1500-byte segment is lost")
    p.add_argument("--rate-kbps", type=float, default=0.0, help="initial uplink rate; 0 = not shaped here")
    p.add_argument("--queue-bytes", type=int, default=512_000, help="bound of the uplink queue when shaping")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    relay = Relay(_address(args.listen), _address(args.target), args.delay_ms, args.loss, args.rate_kbps,
                  args.queue_bytes, args.seed)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(f"listening {relay.address[0]}:{relay.address[1]}", flush=True)
    threading.Thread(target=_control, args=(relay,), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        relay.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
