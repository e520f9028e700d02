"""One run of the real node graph over an emulated uplink.

Robot graph (camera, edge, bridge, mask, optionally the controller) and cloud graph
(bridge, cloud) each run in their own network namespace, joined by a veth pair whose
robot end is shaped by ``tc tbf`` following a mahimahi trace; a relay in the cloud
namespace adds propagation delay and loss in both directions; a probe in the robot
namespace measures. zenoh is the only path between the two (TCP, shared memory off),
DDS stays on each namespace's loopback. Where namespaces cannot be made, the same graph
runs on this host's loopback and the relay also does the shaping.

``partitions`` cut the link for a while ((start, duration), seconds after the first
mask): the robot's veth goes down, or on loopback the relay blackholes both directions
(shaper.py). The result says when they really began and ended (``partitions``) and what
each node process used over the run (``processes``: RSS, threads, file descriptors).

Everything is stopped and deleted when the run ends, fails or is interrupted (SIGINT,
SIGTERM); if the whole process is killed, children get SIGTERM from the kernel
(parent-death signal) and the next run deletes the namespaces left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudseg_ros.demo.graph import cloud_specs, robot_specs
from cloudseg_ros.demo.observer import free_port
from cloudseg_ros.demo.processes import NodeSpec, ProcessGroup, _die_with_parent, ros_env
from cloudseg_ros.errors import CloudsegError
from cloudseg_ros.netem.namespaces import NetnsLink, netns_exec
from cloudseg_ros.netem.shaper import LinkRecord, RelayShaper, Shaper, TcShaper, TraceDriver
from cloudseg_ros.netem.trace import Trace

ZENOH_PORT, RELAY_PORT = 7447, 7448  # inside the cloud namespace, which is ours alone


def pick_domains() -> tuple[int, int]:
    """ROS domains for robot and cloud, from a range the demo and the tests do not use.

    Network namespaces separate DDS's UDP traffic, but not its shared-memory transport
    (/dev/shm is shared): two participants in different namespaces with the same domain
    and participant id would share a shared-memory port. So each domain a run uses is used
    in one namespace only, and by nothing else on the host.
    """
    import random

    robot = random.Random(os.getpid() ^ time.time_ns()).randrange(200, 216)
    return robot, robot + 16


@dataclass
class NetnsNodeSpec(NodeSpec):
    """A node process started inside a network namespace (``ip netns exec``, which execs it:
    the process id, group and parent-death signal stay those of the node)."""

    netns: str | None = None

    def command(self, overrides_file: Path | None) -> list[str]:
        return netns_exec(self.netns, super().command(overrides_file), private_shm=True)


@dataclass
class RunOptions:
    """What one run needs to know."""

    name: str
    trace: Trace
    duration_s: float
    out_dir: Path
    edge: dict[str, Any]  # edge parameters at start (a fixed configuration, or the controller's first)
    controller: dict[str, Any] | None = None  # controller parameters; None = no controller
    camera: dict[str, Any] = field(default_factory=dict)
    cloud: dict[str, Any] = field(default_factory=dict)
    netns: bool = True
    delay_ms: float = 20.0
    loss: float = 0.0
    trace_offset_s: float = 0.0
    step_s: float = 0.1
    queue_limit_bytes: int = 512_000
    startup_timeout_s: float = 180.0
    robot: str = "car1"
    # link cuts: (start, seconds), start counted from the first mask
    partitions: list[tuple[float, float]] = field(default_factory=list)
    sample_s: float = 1.0  # how often the node processes' memory is read (0 = never)


class RunError(CloudsegError):
    pass


class _Spawned:
    """A helper process (relay, probe) with pipes, in its own process group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log_path = name, log
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)  # fmt: skip

    def readline(self, timeout_s: float) -> str | None:
        """One line of stdout, or None after ``timeout_s`` (or at its end)."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line.strip() if line else None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGINT, 3.0), (signal.SIGKILL, 2.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _tail(path: Path, lines: int = 8) -> str:
    return (
        "\n    ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) if path.exists() else ""
    )


class Run:
    """Start, measure, stop. ``execute()`` returns the probe's result plus the link record."""

    def __init__(self, opts: RunOptions) -> None:
        self.opts = opts
        self.logs = opts.out_dir / "logs" / opts.name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.group = ProcessGroup(self.logs)
        self.link: NetnsLink | None = None
        self.helpers: list[_Spawned] = []
        self.shaper: Shaper | None = None
        self.driver: TraceDriver | None = None

    def _fail(self, what: str) -> RunError:
        details = [f"  {label} exited with {code}:\n    {_tail(self.logs / f'{label}.log')}"
                   for label, code in self.group.failed().items()]  # fmt: skip
        details += [f"  {h.name} exited with {h.proc.returncode}:\n    {_tail(h.log_path)}"
                    for h in self.helpers if h.proc.poll() is not None]  # fmt: skip
        return RunError(f"run {self.opts.name}: {what}\n" + "\n".join(details) + f"\n  (logs in {self.logs})")

    def _check(self, probe: _Spawned) -> None:
        if self.group.failed() or any(h.proc.poll() is not None for h in self.helpers if h is not probe):
            raise self._fail("a process stopped")
        if self.driver is not None and self.driver.error:
            raise self._fail(f"shaping failed: {self.driver.error}")

    def execute(self) -> dict[str, Any]:
        try:
            return self._execute()
        finally:
            self.close()

    def _execute(self) -> dict[str, Any]:
        o = self.opts
        robot_domain, cloud_domain = pick_domains()
        # Until the first mask is back (the graph starting, models loading) the link runs at the
        # trace's mean over the run; the trace itself plays from the first mask on, so every run
        # of an experiment meets the same link at the same moment of its recording.
        start_rate = o.trace.rate_kbps(o.trace_offset_s, o.trace_offset_s + o.duration_s)
        if o.netns:
            self.link = NetnsLink()  # known before it exists: close() removes a half-made one
            self.link.create()
            robot_ns, cloud_ns = self.link.robot, self.link.cloud
            listen = f"tcp/127.0.0.1:{ZENOH_PORT}"
            relay_listen, relay_target = f"{self.link.cloud_addr}:{RELAY_PORT}", f"127.0.0.1:{ZENOH_PORT}"
            connect = f"tcp/{self.link.cloud_addr}:{RELAY_PORT}"
        else:
            robot_ns = cloud_ns = None
            zport, rport = free_port(), free_port()
            listen = f"tcp/127.0.0.1:{zport}"
            relay_listen, relay_target = f"127.0.0.1:{rport}", f"127.0.0.1:{zport}"
            connect = f"tcp/127.0.0.1:{rport}"
        # Cloud first, then the relay in front of it, then the robot.
        for spec in cloud_specs(cloud_domain, listen, {"cloud": o.cloud, "bridge": {"shared_memory": False}}):
            self.group.start(NetnsNodeSpec(**vars(spec), netns=cloud_ns), f"cloud.{spec.name}")
        relay_args = ["--listen", relay_listen, "--target", relay_target, "--delay-ms", str(o.delay_ms),
                      "--loss", str(o.loss), "--queue-bytes", str(o.queue_limit_bytes)]  # fmt: skip
        if not o.netns:
            relay_args += ["--rate-kbps", str(start_rate)]
        relay = _Spawned("relay", netns_exec(cloud_ns, _python("cloudseg_ros.netem.relay", *relay_args)), dict(os.environ),
                         self.logs / "relay.log")  # fmt: skip
        self.helpers.append(relay)
        if relay.readline(10.0) is None:
            raise self._fail(f"the relay did not start: {_tail(self.logs / 'relay.log')}")
        if o.netns:
            assert self.link is not None
            self.shaper = TcShaper(robot_ns, self.link.robot_dev, start_rate, o.queue_limit_bytes)
        else:
            self.shaper = RelayShaper(relay.proc)
        nodes = ("camera", "edge", "bridge", "mask") + (("controller",) if o.controller is not None else ())
        overrides = {
            "camera": o.camera,
            "edge": o.edge,
            "bridge": {"shared_memory": False},
            "mask": {"publish_overlay": False, "publish_color": False},
            "controller": o.controller or {},
        }
        for spec in robot_specs(o.robot, robot_domain, connect, overrides, nodes=nodes):
            self.group.start(NetnsNodeSpec(**vars(spec), netns=robot_ns))
        fps = float(o.camera.get("fps", 10.0))
        probe_out = self.logs / "probe.json"
        probe = _Spawned(
            "probe",
            netns_exec(robot_ns, _python(
                "cloudseg_ros.netem.probe", "--robot-domain", str(robot_domain),
                # In namespaces the cloud's DDS is out of reach (and its domain must stay in its namespace).
                "--cloud-domain", str(robot_domain if o.netns else cloud_domain),
                "--robot", o.robot, "--duration", str(o.duration_s), "--fps", str(fps), "--out", str(probe_out),
                "--startup-timeout", str(o.startup_timeout_s),
                "--in-flight-timeout", str(o.edge.get("in_flight_timeout_s", 2.0))), private_shm=True),
            ros_env(robot_domain), self.logs / "probe.log",
        )  # fmt: skip
        self.helpers.append(probe)
        # Wait for the first mask (the probe says "start"), then play the trace.
        deadline = time.monotonic() + o.startup_timeout_s + 30
        t0 = None
        while t0 is None:
            self._check(probe)
            if time.monotonic() > deadline or probe.proc.poll() is not None:
                raise self._fail(f"no mask came back within {o.startup_timeout_s:.0f} s")
            line = probe.readline(0.5)
            if line and line.startswith("start "):
                t0 = float(line.split()[1])
        self.driver = TraceDriver(
            self.shaper, o.trace, o.step_s, o.trace_offset_s, partitions=o.partitions
        ).start()
        usage: dict[str, list[tuple[float, float, int, int]]] = {}
        deadline, next_sample = time.monotonic() + o.duration_s + 60, 0.0
        while True:
            self._check(probe)
            if o.sample_s > 0 and time.monotonic() >= next_sample:
                next_sample = time.monotonic() + o.sample_s
                self._sample(usage, t0)
            line = probe.readline(0.5)
            if line == "done":
                break
            if time.monotonic() > deadline or (line is None and probe.proc.poll() is not None):
                raise self._fail("the probe did not finish")
        record = self.driver.stop()
        # The probe closes its ROS nodes after "done": a SIGINT from the clean-up meanwhile
        # would cut that short (a KeyboardInterrupt traceback in probe.log), so let it finish.
        with contextlib.suppress(subprocess.TimeoutExpired):
            probe.proc.wait(10.0)
        result = json.loads(probe_out.read_text())
        result["link"] = link_summary(record, t0, o.duration_s)
        result["mode"] = "netns" if o.netns else "loopback"
        result["partitions"] = [
            {"start_s": round(a - t0, 3), "end_s": round(b - t0, 3)} for a, b in record.partitions
        ]
        result["processes"] = {label: {"pid": self.group.procs[label].pid, "samples": rows}
                               for label, rows in usage.items()}  # fmt: skip
        return result

    def _sample(self, usage: dict[str, list[tuple[float, float, int, int]]], t0: float) -> None:
        """(t, RSS MB, threads, fds) of every node process, t in seconds after the first mask."""
        from cloudseg_ros.demo.procstats import read_process

        t = round(time.monotonic() - t0, 3)
        for label, proc in self.group.procs.items():
            s = read_process(proc.pid)
            if s is not None:
                usage.setdefault(label, []).append((t, round(s.rss_mb, 1), s.threads, s.fds))

    def close(self) -> None:
        """Stop everything and remove the namespaces. A second Ctrl-C or SIGTERM while this
        waits for processes to stop is noted and raised once it is done (one aborted it, and
        the namespaces, with whatever still ran in them, stayed behind). Python runs signal
        handlers in the main thread, so the driver's thread cannot take the signal instead."""
        caught: list[int] = []
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
        try:
            if self.driver is not None:
                self.driver.stop()
            for h in reversed(self.helpers):
                h.stop()
            self.group.close()
            if self.shaper is not None:
                with contextlib.suppress(Exception):
                    self.shaper.close()
        finally:
            try:
                if self.link is not None:
                    self.link.delete()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        if caught:
            raise KeyboardInterrupt


def link_summary(record: LinkRecord, t0: float, duration_s: float) -> dict[str, Any]:
    """The shaper's view of the run: rate it offered, queue it held (inside the window)."""
    import numpy as np

    keep = [i for i, t in enumerate(record.t) if t0 <= t <= t0 + duration_s]
    backlog = np.array([record.backlog_bytes[i] for i in keep] or [0])
    rates = np.array([record.rate_kbps[i] for i in keep] or [0.0])
    drops = [record.dropped[i] for i in keep] or [0]
    sent = [record.sent_bytes[i] for i in keep] or [0]
    return {
        "rate_kbps_mean": float(rates.mean()),
        "rate_kbps_median": float(np.median(rates)),
        "backlog_bytes_max": int(backlog.max()),
        "backlog_bytes_p95": float(np.percentile(backlog, 95)),
        "backlog_ms_max": float(
            max((b * 8 / r for b, r in zip(backlog, rates, strict=True) if r > 0), default=0.0)
        ),
        "drops": int(drops[-1] - drops[0]),
        "shaped_kbps": (sent[-1] - sent[0]) * 8 / 1e3 / duration_s,
        "timeline": [
            (round(record.t[i] - t0, 3), round(record.rate_kbps[i], 1), record.backlog_bytes[i]) for i in keep
        ],
    }
