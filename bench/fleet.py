"""Fleet scaling: masks per second and latency for 1, 2, 4, 8 robots against one cloud.

Runs the real demo graphs (every robot: camera, edge, bridge, mask; one cloud: bridge and
cloud node; separate ROS domains, zenoh on loopback) for each fleet size, and reports the
delivered masks/s, p50/p95 latency, the scaling ratio (masks/s over N x the one-robot rate)
and where the CPU went (per node kind, from /proc), which names the bottleneck. Everything
shares this machine's cores, robots included, so the ratio is a lower bound of what one
cloud box does for robots that bring their own CPUs.

    python bench/fleet.py [--sizes 1 2 4 8] [--duration 20] [--hr-size 256x128] [--fps 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchutil import emit

from cloudseg_ros.demo.procstats import node_processes
from cloudseg_ros.demo.run import DemoOptions, run_demo


class CpuSampler(threading.Thread):
    """CPU seconds per node kind over a run: every node process's latest total, kept after the
    process has gone (they stop one by one at the end of a run). Only this benchmark's own
    processes count: a graph running beside it on the machine is not part of the fleet."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._by_pid: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for proc in node_processes(ancestor=os.getpid()):  # this run's graph only
                self._by_pid[proc.pid] = (proc.kind, proc.cpu_s)
            self.stop.wait(0.5)

    @property
    def latest(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for kind, cpu_s in self._by_pid.values():
            totals[kind] += cpu_s
        return dict(totals)


def run(size: int, args: argparse.Namespace) -> dict:
    sampler = CpuSampler()
    sampler.start()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(sys.stderr):  # stdout: the JSON
        report = run_demo(DemoOptions(out=Path(out), duration_s=args.duration, hr_size=args.hr_size,
                                      fps=args.fps, robots=size))  # fmt: skip
    wall = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    # Cores used, averaged over the whole run: start-up (model loading, warm-up) and shutdown
    # included, while masks/s counts the recording window only; so the cloud's share reads high.
    cpu = {k: round(v / wall, 3) for k, v in sampler.latest.items()}
    return {
        "robots": size,
        "masks_per_s": report["fps"],
        "frames_sent": report["frames_sent"],
        "masks_received": report["masks_received"],
        "latency_ms_p50": report["latency_ms_p50"],
        "latency_ms_p95": report["latency_ms_p95"],
        "cloud_segment_ms": report["server_ms"]["segment"],
        "cores_by_node_kind": cpu,
        "bottleneck": max(cpu, key=cpu.get) if cpu else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--hr-size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(256, 128))
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    rows = [run(n, args) for n in args.sizes]
    base = rows[0]["masks_per_s"] / rows[0]["robots"]
    for row in rows:
        row["scaling"] = row["masks_per_s"] / (base * row["robots"]) if base else None
    result = {"hr_size": "x".join(map(str, args.hr_size)), "fps_per_robot": args.fps, "cores": os.cpu_count(),
              "runs": rows}  # fmt: skip
    emit(result, args.out, indent=2)
    print(f"\n{'robots':>6}{'masks/s':>9}{'scaling':>9}{'p50 ms':>8}{'p95 ms':>8}  bottleneck (cores, whole run)",
          file=sys.stderr)  # fmt: skip
    for r in rows:
        bottleneck = f"{r['bottleneck']} ({r['cores_by_node_kind'].get(r['bottleneck'], 0):.2f})"
        print(f"{r['robots']:>6}{r['masks_per_s']:>9.1f}{r['scaling']:>9.2f}{r['latency_ms_p50']:>8.0f}"
              f"{r['latency_ms_p95']:>8.0f}  {bottleneck}", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
