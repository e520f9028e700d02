"""Two network namespaces (robot, cloud) joined by one veth pair: a private link to shape.

Everything this module creates carries the name prefix ``csnet<pid>``, with the id of
the process that created it, so that a later run can find and remove what a killed
run left behind (namespaces of a process that no longer exists, and the processes
still running inside them, which that run started). Deleting a namespace deletes its
end of the veth pair, the other end with it, and the qdiscs on them.

Addresses: 10.213.0.1/30 (robot) and 10.213.0.2/30 (cloud), only ever inside these
namespaces; each namespace also gets its loopback up (DDS stays on it, one ROS graph per
namespace).

DDS also talks through shared memory, and /dev/shm is not part of a network namespace:
two participants in different namespaces with the same domain and participant id would
meet there (every test and demo on the host picks random domains). So each namespace
also gets its own /dev/shm: a directory under the real one, bind-mounted over /dev/shm
for every process started in that namespace (``ip netns exec`` gives each process a
private mount namespace, so nothing outside sees the mount).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from cloudseg_ros.errors import CloudsegError

PREFIX = "csnet"
ROBOT_ADDR, CLOUD_ADDR, PREFIX_LEN = "10.213.0.1", "10.213.0.2", 30
_NAME = re.compile(rf"^{PREFIX}(\d+)x(\d+)[rc]$")
SHM_ROOT = "/dev/shm"


class NetnsError(CloudsegError):
    """Network namespaces cannot be made here (no privileges, no iproute2)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"ip {' '.join(args)}: {exc}") from exc
    if check and res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {res.stderr.strip() or res.stdout.strip()}")
    return res


def shm_dir(netns: str) -> str:
    """The private /dev/shm of one of our namespaces."""
    return f"{SHM_ROOT}/{netns}"


def netns_exec(netns: str | None, cmd: Sequence[str], private_shm: bool = False) -> list[str]:
    """``cmd`` run inside ``netns`` (unchanged when None: the loopback fallback); with
    ``private_shm`` it sees the namespace's own /dev/shm (for DDS processes). The shell
    execs ``cmd``: process id, group and parent-death signal stay those of ``cmd``."""
    if not netns:
        return list(cmd)
    if not private_shm:
        return ["ip", "netns", "exec", netns, *cmd]
    bind = 'mount --bind "$0" /dev/shm && exec "$@"'
    return ["ip", "netns", "exec", netns, "sh", "-c", bind, shm_dir(netns), *cmd]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_ours() -> list[str]:
    """Our namespaces (and private /dev/shm folders whose namespace is already gone)."""
    res = _ip("netns", "list", check=False)
    names = {line.split()[0] for line in res.stdout.splitlines() if line.strip()}
    with contextlib.suppress(OSError):
        names |= set(os.listdir(SHM_ROOT))
    return sorted(n for n in names if _NAME.match(n))


def remove_netns(name: str) -> None:
    """Stop what still runs in one of our namespaces, then delete it."""
    res = _ip("netns", "pids", name, check=False)
    for pid in (int(p) for p in res.stdout.split() if p.isdigit()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _ip("netns", "delete", name, check=False)
    shutil.rmtree(shm_dir(name), ignore_errors=True)


def remove_leftovers() -> list[str]:
    """Delete namespaces whose creating process is gone (a run that was killed); returns them."""
    removed = []
    for name in list_ours():
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            remove_netns(name)
            removed.append(name)
    return removed


def can_use_netns() -> tuple[bool, str]:
    """Whether namespaces can be created here (tries once); and why not."""
    name = f"{PREFIX}{os.getpid()}x0r"
    try:
        _ip("netns", "add", name)
    except NetnsError as exc:
        return False, str(exc)
    _ip("netns", "delete", name, check=False)
    return True, ""


_counter = 0


@dataclass
class NetnsLink:
    """Robot and cloud namespaces and the veth pair between them. Use as a context manager."""

    robot: str = ""
    cloud: str = ""
    robot_dev: str = ""
    cloud_dev: str = ""
    robot_addr: str = ROBOT_ADDR
    cloud_addr: str = CLOUD_ADDR

    def __post_init__(self) -> None:
        global _counter
        _counter += 1
        tag = f"{PREFIX}{os.getpid()}x{_counter}"
        self.robot, self.cloud = f"{tag}r", f"{tag}c"
        # Interface names have at most 15 characters; they only live inside our namespaces.
        self.robot_dev, self.cloud_dev = f"csv{_counter}r", f"csv{_counter}c"

    def create(self) -> NetnsLink:
        try:
            for ns in (self.robot, self.cloud):
                _ip("netns", "add", ns)
                os.makedirs(shm_dir(ns), mode=0o1777, exist_ok=True)
            # Created inside the robot namespace, so no interface ever exists outside ours.
            _ip("-n", self.robot, "link", "add", self.robot_dev, "type", "veth", "peer", "name", self.cloud_dev,
                "netns", self.cloud)  # fmt: skip
            for ns, dev, addr in ((self.robot, self.robot_dev, self.robot_addr),
                                  (self.cloud, self.cloud_dev, self.cloud_addr)):  # fmt: skip
                _ip("-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:  # also an interrupt halfway: what was made goes again
            self.delete()
            raise
        return self

    def delete(self) -> None:
        for ns in (self.robot, self.cloud):
            remove_netns(ns)

    def __enter__(self) -> NetnsLink:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.delete()
