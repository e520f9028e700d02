"""What the node processes of a running graph use, read from /proc (Linux).

Benchmarks (CPU per node kind) and the soak test (memory, file descriptors, threads over
time) look at the same numbers a person would with `top` and `ls /proc/PID/fd`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NODE_KINDS = ("camera_node", "edge_node", "bridge_node", "cloud_node", "mask_node", "controller_node")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    pid: int
    kind: str  # which node executable
    domain: int | None  # its ROS_DOMAIN_ID
    rss_mb: float
    fds: int
    threads: int
    cpu_s: float  # user + system CPU time so far


def _read(pid: str) -> ProcSample | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        kind = next((k for k in NODE_KINDS if k in cmd), None)
        if kind is None:
            return None
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # the process ended while we looked
        return None
    domain = next((e.split(b"=", 1)[1] for e in env if e.startswith(b"ROS_DOMAIN_ID=")), b"")
    return ProcSample(
        pid=int(pid),
        kind=kind,
        domain=int(domain) if domain.isdigit() else None,
        rss_mb=int(status["VmRSS"].split()[0]) / 1024,
        fds=fds,
        threads=int(status["Threads"]),
        cpu_s=(int(stat[11]) + int(stat[12])) / CLOCK_TICKS,
    )


def read_process(pid: int) -> ProcSample | None:
    """One node process (None once it has ended, or if it is not one of our nodes)."""
    return _read(str(pid))


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descends_from(pid: int, ancestor: int) -> bool:
    """Is ``pid`` a child, grandchild, ... of ``ancestor``? (False once either has gone.)"""
    seen = 0
    while pid > 1 and seen < 64:  # bounded: a pid reused mid-walk cannot loop forever
        if pid == ancestor:
            return True
        parent = _parent(pid)
        if parent is None:
            return False
        pid, seen = parent, seen + 1
    return False


def node_processes(domains: set[int] | None = None, ancestor: int | None = None) -> list[ProcSample]:
    """Every running node process of this package: only those in ``domains`` and only those
    started (directly or not) by process ``ancestor`` if given -- another graph on the same
    machine, a second demo or a robot in production, is not this run's."""
    samples = (_read(pid) for pid in os.listdir("/proc") if pid.isdigit())
    return [
        s
        for s in samples
        if s is not None
        and (domains is None or s.domain in domains)
        and (ancestor is None or descends_from(s.pid, ancestor))
    ]
