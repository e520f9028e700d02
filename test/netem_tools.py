"""Shared by the network tests: synthetic mahimahi traces, a loopback relay process, an echo
server and a small controller profile for a 256x128 camera."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from cloudseg_ros.netem.trace import Trace

SIZE = (256, 128)


def write_trace(path: Path, segments: list[tuple[float, float]]) -> Path:
    """A mahimahi trace of (seconds, kbps) segments."""
    return Trace.piecewise(segments, path.name).write(path)


class Relay:
    """The user-space relay (cloudseg_ros.netem.relay) on loopback, in front of ``target``."""

    def __init__(self, target: int, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloudseg_ros.netem.relay", "--listen", "127.0.0.1:0", "--target",
             f"127.0.0.1:{target}", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline().split()
        self.port = int(line[-1].rsplit(":", 1)[1])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def echo_server() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def ladder_profile(path: Path) -> Path:
    """A ladder for a 256x128 camera; the top point asks for H.265 at x16 (16x8), which libx265
    cannot encode: the edge refuses it (with the encoder's reason)."""

    def point(name: str, d: int, kbps: int, measured: float, miou: float, **extra: float | str) -> dict:
        return {"name": name, "knobs": {"downscale": d, "codec": "h264", "bitrate_kbps": kbps, "fps_cap": 0.0,
                                        **extra}, "kbps": measured, "miou": miou}  # fmt: skip

    data = {
        "version": 1,
        "camera": {"width": SIZE[0], "height": SIZE[1], "fps": 10.0},
        "cloud": {"sr_model": "bilinear"},
        "pareto": [
            point("x4-20k", 4, 20, 25.0, 0.30),
            point("x2-60k", 2, 60, 70.0, 0.40),
            point("x1-200k", 1, 200, 230.0, 0.50),
            point("x1-600k", 1, 600, 650.0, 0.55),
            point("x16-h265-1200k", 16, 1200, 1300.0, 0.60, codec="h265"),
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path
