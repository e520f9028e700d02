"""Starting node executables as processes, the way ``ros2 launch`` would, and
stopping all of them, whatever happens.

Each process gets its own ROS domain (robot and cloud never share DDS), DDS
discovery limited to this host, parameters from the package's config files plus
per-run overrides, and its own process group, so that stopping a graph also ends
anything it started. Used by ``cloudseg demo``, ``cloudseg netem`` and the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.paths import PACKAGE, config_file, install_prefixes

# Fast DDS profile of our node processes (see config/fastdds.xml: shared memory large enough
# for camera images, UDP on loopback only). A profile the user already set wins.
DDS_PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"


def executable(name: str) -> str:
    """Path of one of the package's executables (node or ``cloudseg``): beside this Python (a
    venv), on PATH, or where a ROS install keeps them (``<prefix>/lib/cloudseg_ros``, which
    is not on PATH: ``ros2 run`` looks there)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    for prefix in install_prefixes():
        candidate = prefix / "lib" / PACKAGE / name
        if candidate.is_file():
            return str(candidate)
    raise ConfigError(f"executable {name!r} not found: is the package installed (make setup)?")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the starting process dies, even by SIGKILL (Linux only),
    so a crashed demo or test run leaves no node behind."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def ros_env(domain_id: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a node process in ``domain_id``, discovering peers on this host only."""
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        RCUTILS_COLORIZED_OUTPUT="0",
        RCUTILS_LOGGING_BUFFERED_STREAM="0",
    )
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the discovery range
    env.setdefault(DDS_PROFILE_VAR, str(config_file("fastdds.xml")))
    if extra:
        env.update(extra)
    return env


def write_params_file(path: Path, node_name: str, params: Mapping[str, Any]) -> Path:
    """A ROS params file applying ``params`` to ``node_name`` in any namespace."""
    path.write_text(yaml.safe_dump({f"/**/{node_name}": {"ros__parameters": dict(params)}}, sort_keys=False))
    return path


@dataclass
class NodeSpec:
    """One node process: which executable, where (namespace, domain), with which parameters."""

    executable: str
    name: str
    domain_id: int
    namespace: str = ""
    params_files: Sequence[Path] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, overrides_file: Path | None) -> list[str]:
        cmd = [executable(self.executable), "--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            cmd += ["-r", f"__ns:=/{self.namespace.strip('/')}"]
        for f in self.params_files:
            cmd += ["--params-file", str(f)]
        if overrides_file is not None:
            cmd += ["--params-file", str(overrides_file)]
        return cmd


class ProcessGroup:
    """Processes started together and stopped together (SIGINT, then SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="cloudseg-")
        self.log_dir = Path(log_dir) if log_dir else Path(self._tmp.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Any] = {}

    def start(self, spec: NodeSpec, label: str | None = None) -> subprocess.Popen:
        label = label or (f"{spec.namespace.strip('/')}.{spec.name}" if spec.namespace else spec.name)
        if label in self.procs and self.procs[label].poll() is None:
            raise RuntimeError(f"{label} is already running")
        overrides = None
        if spec.params:
            overrides = write_params_file(
                Path(self._tmp.name) / f"{label}.params.yaml", spec.name, spec.params
            )
        log = open(self.log_dir / f"{label}.log", "ab")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            spec.command(overrides),
            env=ros_env(spec.domain_id, spec.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches its children too
            preexec_fn=_die_with_parent,
        )
        self.procs[label], self._logs[label] = proc, log
        return proc

    def log_text(self, label: str) -> str:
        path = self.log_dir / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def failed(self) -> dict[str, int]:
        """Processes that have exited already, with their exit codes."""
        return {label: p.returncode for label, p in self.procs.items() if p.poll() is not None}

    def stop_one(self, label: str, timeout: float = 5.0, interrupted: bool = False) -> int | None:
        """Stop one process: SIGINT (unless it already had one: ``interrupted``), then SIGTERM,
        then SIGKILL. A second SIGINT would only cut its clean-up short."""
        proc = self.procs.get(label)
        if proc is None:
            return None
        steps = [(signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)]
        for sig, wait in steps if interrupted else [(signal.SIGINT, timeout), *steps]:
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        # Whatever the node itself started lives in its group: make sure it is gone too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log = self._logs.pop(label, None)
        if log:
            log.close()
        return proc.returncode

    def stop(self, timeout: float = 5.0) -> dict[str, int | None]:
        """Stop every process (all get SIGINT at once, then stragglers are escalated)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        return {label: self.stop_one(label, interrupted=True) for label in list(self.procs)}

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
