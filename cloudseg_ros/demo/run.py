"""`cloudseg demo`: the whole loop on one machine, through the real nodes.

The cloud graph (bridge + cloud node) and each robot graph (camera, edge, bridge,
mask) run as separate processes in DIFFERENT ROS domains, so DDS cannot carry the
data between them: only zenoh (on loopback, on a free port) can. The embedded scene
plays for the requested time; a recorder measures what came back and writes the
report, snapshots and an overlay video. Every process is stopped at the end, on
error and on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudseg_ros.demo.graph import cloud_specs, robot_specs
from cloudseg_ros.demo.observer import free_port
from cloudseg_ros.demo.processes import ProcessGroup
from cloudseg_ros.demo.report import build_report, summary_table
from cloudseg_ros.errors import CloudsegError, ConfigError, Terminated


@dataclass
class DemoOptions:
    out: Path
    duration_s: float = 60.0
    hr_size: tuple[int, int] = (1024, 512)
    fps: float = 10.0
    robots: int = 1
    seed: int = 0
    variant: str = "default"
    startup_timeout_s: float = 120.0
    tls: bool = False  # mutual TLS + per-robot access control on the zenoh link
    domains: tuple[int, int] | None = None  # (robot, cloud) ROS domains; random when None
    edge: dict[str, Any] = field(default_factory=dict)  # edge parameter overrides
    cloud: dict[str, Any] = field(default_factory=dict)  # cloud node parameter overrides
    record: Path | None = None  # MCAP file for the robots' camera, uplink and mask topics

    def validate(self) -> None:
        from cloudseg_ros.commands.argtypes import frame_size_error

        if (why := frame_size_error(*self.hr_size)) is not None:
            raise ConfigError(f"--hr-size {why}")
        if self.record is not None and Path(self.record).exists():
            # refused before the graph starts, not after (the recorder does not overwrite either)
            raise ConfigError(f"--record {self.record} exists: remove it or record to another file")
        if self.duration_s <= 0 or self.fps <= 0 or not 1 <= self.robots <= 32:
            raise ConfigError("--duration and --fps must be > 0, --robots within 1..32")


def pick_domains() -> tuple[int, int]:
    """Two distinct ROS domain ids, random per run so parallel runs on one host rarely meet."""
    rng = random.Random(os.getpid() ^ time.time_ns())
    robot = rng.randrange(1, 100)
    return robot, robot + 100


class _Terminated(Exception):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _fail(group: ProcessGroup, what: str) -> CloudsegError:
    dead = group.failed()
    details = []
    for label, code in dead.items():
        tail = group.log_text(label).strip().splitlines()[-6:]
        details.append(f"  {label} exited with {code}:\n    " + "\n    ".join(tail))
    logs = f"logs in {group.log_dir}"
    return CloudsegError(
        f"{what}\n" + "\n".join(details) + f"\n  ({logs})" if details else f"{what} ({logs})"
    )


def is_demo_output(out: Path) -> bool:
    """Whether ``out`` holds what an earlier demo wrote: its report, or (a run that stopped
    before the report) the cloud node's log."""
    return (out / "report.json").is_file() or (out / "logs" / "cloud.cloud.log").is_file()


def remove_old_snapshots(out: Path) -> list[Path]:
    """Remove the snapshots of an earlier demo in ``out`` (a new run may keep fewer, and old
    ones would pass for its own); PNGs in a folder the demo never wrote to are not its own
    and stay. Returns what was removed."""
    if not is_demo_output(out):
        return []
    old = sorted(out.glob("snapshot_*.png"))
    for path in old:
        path.unlink()
    return old


def trained_on(seeds: list[int], cloud: dict[str, Any]) -> list[int]:
    """The scene seeds among ``seeds`` the cloud's models were trained or validated on (the
    default scene, seed 0, is one): the report says so next to its mIoU."""
    from cloudseg_ros.evaluation.frames import MODEL_NAMES, training_seeds
    from cloudseg_ros.models.checkpoint import weights_dir

    return sorted(set(seeds) & training_seeds(weights_dir(cloud.get("weights_dir") or None), MODEL_NAMES))


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo; returns the report (also written to ``opts.out/report.json``)."""
    opts.validate()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_old_snapshots(out)
    robot_domain, cloud_domain = opts.domains or pick_domains()
    port = free_port()
    robots = [f"car{i + 1}" for i in range(opts.robots)]
    endpoint, cloud_bridge, robot_bridge = f"tcp/127.0.0.1:{port}", {}, {}
    if opts.tls:
        from cloudseg_ros.security.fleet import make_fleet

        # The demo's own throwaway fleet, made anew each run (no robot outside holds its files).
        fleet = make_fleet(out / "certs", robots, ["localhost"], replace=True)
        endpoint = f"tls/localhost:{port}"
        cloud_bridge = {"zenoh_config_file": str(fleet.cloud_config)}
        robot_bridge = {r: {"zenoh_config_file": str(p)} for r, p in fleet.robot_configs.items()}
    width, height = opts.hr_size
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    group = ProcessGroup(out / "logs")
    recorder = None
    bag = None
    try:
        for spec in cloud_specs(cloud_domain, endpoint, {"cloud": opts.cloud, "bridge": cloud_bridge}):
            group.start(spec, f"cloud.{spec.name}")
        for i, robot in enumerate(robots):
            camera = {"width": width, "height": height, "fps": opts.fps, "seed": opts.seed + i,
                      "variant": opts.variant}  # fmt: skip
            edge = {"camera_fps": opts.fps, **opts.edge}
            overrides = {"camera": camera, "edge": edge, "bridge": robot_bridge.get(robot, {})}
            for spec in robot_specs(robot, robot_domain, endpoint, overrides):
                group.start(spec)
        from cloudseg_ros.demo.recorder import Recorder

        recorder = Recorder(robot_domain, cloud_domain, robots, out, video_fps=opts.fps)
        if opts.record:
            from cloudseg_ros.record.topics import TopicRecorder

            bag = TopicRecorder(robot_domain, robots, opts.record)
        print(f"started {len(group.procs)} node processes (robot domain {robot_domain}, cloud domain "
              f"{cloud_domain}, zenoh {endpoint}); waiting for the first mask...", flush=True)  # fmt: skip
        t0 = time.monotonic()
        while not recorder.any_mask():
            if group.failed():
                raise _fail(group, "a node stopped during start-up")
            if time.monotonic() - t0 > opts.startup_timeout_s:
                raise _fail(group, f"no mask came back within {opts.startup_timeout_s:.0f} s")
            time.sleep(0.2)
        startup_s = time.monotonic() - t0
        print(f"first mask after {startup_s:.1f} s; recording {opts.duration_s:.0f} s", flush=True)
        recorder.start(duration_s=opts.duration_s)
        t_start = time.monotonic()
        next_note = t_start + 10.0
        while (now := time.monotonic()) - t_start < opts.duration_s:
            if group.failed():
                raise _fail(group, "a node stopped during the run")
            if now >= next_note:
                done = sum(r.masks_received for r in recorder.records.values())
                print(f"  {now - t_start:4.0f} s: {done} masks", flush=True)
                next_note += 10.0
            time.sleep(0.1)
        duration = time.monotonic() - t_start
        # Stop the cameras first, give frames in flight a moment to come back, then close the window.
        for label in [label for label in group.procs if label.endswith(".camera")]:
            group.stop_one(label)
        time.sleep(1.5)
        recorder.stop()
        if bag is not None:
            bag.close()
            print(f"recorded {bag.messages} messages to {opts.record}")
            for line in bag.report() if bag.losses else ():
                print(f"  {line}")
        leaked = sorted(t for t in recorder.cloud_topics() if "/camera/" in t or "/segmentation/" in t)
        extra = {
            "startup_s": startup_s,
            "domains": {"robot": robot_domain, "cloud": cloud_domain, "robot_topics_seen_in_cloud": leaked},
            "snapshots": [p.name for p in recorder.snapshots],
            "video": recorder.video_path.name if recorder.video_path else None,
            "logs": "logs/",
            "scene_seeds_trained_on": trained_on([opts.seed + i for i in range(opts.robots)], opts.cloud),
        }
        report = build_report(list(recorder.records.values()), duration, extra)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(summary_table(report))
        if report["scene_seeds_trained_on"]:
            print(f"note: scene seed(s) {report['scene_seeds_trained_on']} were used to train the models "
                  "(a few of their frames): for held-out accuracy, --seed 1500 or `cloudseg eval`")  # fmt: skip
        print(f"report: {out / 'report.json'}")
        if report["masks_received"] == 0:
            raise _fail(group, "no mask came back during the run")
        return report
    except _Terminated:
        raise Terminated from None
    finally:
        if bag is not None:
            bag.close()
        if recorder is not None:
            recorder.close()
        group.close()
        signal.signal(signal.SIGTERM, previous)
