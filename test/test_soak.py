"""Soak: the demo graph for 30 minutes at 10 fps (slow suite: `make test-slow`).

Verifies that nothing accumulates: the resident memory of every node process at the end
is within 10% of what it was after warm-up (2 minutes in), no process gains file
descriptors or threads, and masks_received >= 0.95 x frames_sent on loopback.
CLOUDSEG_SOAK_S shortens the run for a quick check (the thresholds stay the same).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from cloudseg_ros.demo.procstats import ProcSample, node_processes
from cloudseg_ros.demo.run import DemoOptions, run_demo

SOAK_S = float(os.environ.get("CLOUDSEG_SOAK_S", 1800))
WARMUP_S = min(120.0, SOAK_S / 4)


@pytest.mark.slow
def test_soak_nothing_grows(tmp_path: Path) -> None:
    domains = tuple(random.sample(range(1, 232), 2))
    samples: list[tuple[float, list[ProcSample]]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(10.0):
            samples.append((time.monotonic() - start, node_processes(set(domains))))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = run_demo(DemoOptions(out=tmp_path, duration_s=SOAK_S, fps=10.0, domains=domains))
    finally:
        stop.set()
        sampler.join()
    assert report["masks_received"] >= 0.95 * report["frames_sent"], report
    warm = next(procs for t, procs in samples if t >= WARMUP_S)
    end = [procs for _, procs in samples if len(procs) == len(warm)][-1]
    by_pid = {p.pid: p for p in end}
    lines = []
    for p in warm:
        q = by_pid.get(p.pid)
        assert q is not None, f"{p.kind} ({p.pid}) ended during the soak"
        lines.append(f"{p.kind:12s} rss {p.rss_mb:6.1f} -> {q.rss_mb:6.1f} MB, fds {p.fds}->{q.fds}, "
                     f"threads {p.threads}->{q.threads}")  # fmt: skip
        assert q.rss_mb <= 1.10 * p.rss_mb, lines[-1]
        assert q.fds <= p.fds and q.threads <= p.threads, lines[-1]
    print("\n" + "\n".join(lines))
