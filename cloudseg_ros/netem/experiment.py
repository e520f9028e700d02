"""`cloudseg netem`: the controller against fixed configurations on one emulated link.

Runs the real node graph over the same trace (same segment, same delay and loss) once
with the bitrate controller and once per fixed configuration (by default the most
accurate, a middle and the cheapest point of the profile), then writes ``netem.json``
(one row per run), a short table and ``netem.png`` (link rate, sent rate, latency,
chosen configuration and shaper queue over time).

The camera replays frames of the embedded scene rendered once beforehand (a scene seed
the profile was NOT measured on), so the robot's CPU goes to the pipeline, not to
rendering, and every run sees exactly the same pictures.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudseg_ros.controller.policy import BitrateController
from cloudseg_ros.controller.profile import Profile, ProfilePoint, load_profile
from cloudseg_ros.controller.settings import Settings
from cloudseg_ros.errors import CloudsegError, ConfigError, Terminated
from cloudseg_ros.jsonsafe import dumps
from cloudseg_ros.netem import SCENE_SEED
from cloudseg_ros.netem.namespaces import can_use_netns, remove_leftovers
from cloudseg_ros.netem.run import Run, RunOptions
from cloudseg_ros.netem.shapes import open_trace

log = logging.getLogger(__name__)
ROW_KEYS = ("miou", "miou_all_frames", "latency_ms_p50", "latency_ms_p95", "frames_sent", "masks_received",
            "stale_fraction", "uplink_kbps", "config_changes")  # fmt: skip


@dataclass
class ExperimentOptions:
    trace: Path | str  # a mahimahi file, or shape:NAME (cloudseg_ros.netem.shapes)
    duration_s: float
    out: Path
    profile: Path | None = None  # None = the shipped config/profile.yaml
    fixed: list[str] | None = None  # profile point names; None = top, middle, bottom; [] = none
    controller: bool = True
    mode: str = "auto"  # auto | netns | loopback
    delay_ms: float = 20.0
    loss: float = 0.0
    trace_offset_s: float = 0.0
    scene_seed: int = SCENE_SEED
    scene_frames: int = 200
    weights_dir: str | None = None
    engine: str | None = None
    controller_params: dict[str, Any] = field(default_factory=dict)
    # link cuts: (start, seconds), start counted from the first mask
    partitions: list[tuple[float, float]] = field(default_factory=list)

    def validate(self) -> None:
        if self.duration_s < 5:
            raise ConfigError(f"--duration {self.duration_s} too short (at least 5 s)")
        if self.mode not in ("auto", "netns", "loopback"):
            raise ConfigError(f"--mode {self.mode!r}: auto, netns or loopback")
        if self.delay_ms < 0 or not 0 <= self.loss < 0.5 or self.trace_offset_s < 0:
            raise ConfigError("--delay-ms >= 0, 0 <= --loss < 0.5, --trace-offset >= 0")
        if not self.controller and self.fixed == []:
            raise ConfigError("nothing to run: --no-controller and no --fixed configuration")
        for start, seconds in self.partitions:
            if start < 0 or seconds <= 0 or start + seconds > self.duration_s:
                raise ConfigError(f"--partition {start:g}:{seconds:g}: must start >= 0, last > 0 s and end "
                                  f"within --duration {self.duration_s:g}")  # fmt: skip


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


def prepare_scene(seed: int, frames: int, width: int, height: int, variant: str = "default") -> Path:
    """Frames of the embedded scene in the Cityscapes layout (camera ``source: folder``), cached."""
    from cloudseg_ros.scene import DrivingScene, write_cityscapes_frame
    from cloudseg_ros.train.data import cache_dir

    root = cache_dir().parent / "netem" / f"{variant}-{width}x{height}-seed{seed}-{frames}"
    done = root / ".complete"
    if done.is_file():
        return root
    log.info("rendering %d scene frames (seed %d, %dx%d) into %s, once", frames, seed, width, height, root)
    # Into a folder of this process's own, moved into place when complete: two experiments
    # starting at once rewrote the PNGs the other's camera was reading.
    part = root.with_name(f"{root.name}.part{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    scene = DrivingScene(seed, width, height, variant)
    for i in range(frames):
        frame = scene.render(i)
        write_cityscapes_frame(part, "val", f"synth{seed}", seed, i, frame.image, frame.labels)
    (part / ".complete").write_text("ok\n")
    try:
        part.rename(root)
    except OSError:  # another run finished first (or a stale unfinished folder is in the way)
        if not done.is_file():
            shutil.rmtree(root, ignore_errors=True)
            part.rename(root)
    shutil.rmtree(part, ignore_errors=True)
    return root


def edge_window() -> int:
    """The edge's max_in_flight as the runs configure it (config/robot.yaml)."""
    import yaml

    from cloudseg_ros.paths import config_file

    data = yaml.safe_load(config_file("robot.yaml").read_text())
    return int(data.get("/**/edge", {}).get("ros__parameters", {}).get("max_in_flight", 2))


def pick_fixed(profile: Profile, names: list[str] | None) -> list[int]:
    """Profile indices of the fixed configurations to compare with."""
    if names is not None:
        known = [p.name for p in profile.points]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"--fixed {' '.join(unknown)}: not a point of profile {profile.source}; "
                f"one of: {', '.join(known)}"
            )
        return [profile.index_of(n) for n in names]
    n = len(profile)
    return sorted({n - 1, n // 2, 0}, reverse=True)


def start_point(profile: Profile, params: dict[str, Any]) -> ProfilePoint:
    """The point the controller starts at with these parameters (the edge is launched there):
    on the ladder it climbs (see ``frame_budget_ms``)."""
    kinds = {"start_kbps": float, "start_index": int, "frame_budget_ms": float, "min_accuracy_ratio": float}
    known = {k: params[k] for k in kinds if k in params}
    try:
        bad = [k for k, v in known.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad:
            raise ValueError(f"{', '.join(bad)} must be a number")
        # The edge's typed parameter would refuse 2.5 for an index; cutting it to 2 here
        # would start the experiment somewhere the user did not ask for.
        fractional = [k for k, v in known.items() if kinds[k] is int and not float(v).is_integer()]
        if fractional:
            raise ValueError(f"{', '.join(fractional)} must be a whole number")
        settings = Settings(**{k: kinds[k](v) for k, v in known.items()})
        ladder = BitrateController(profile, settings).profile
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--set {known}: {exc}") from exc
    return ladder[settings.first_index(ladder)]


def pick_mode(mode: str) -> bool:
    """True for namespaces. ``auto`` uses them when this process may create them."""
    if mode == "loopback":
        return False
    ok, why = can_use_netns()
    if not ok and mode == "netns":
        raise ConfigError(f"network namespaces are not available here: {why}")
    if not ok:
        log.warning("network namespaces not available (%s): emulating on loopback through the relay", why)
    return ok


def _row(
    name: str, result: dict[str, Any], fixed: dict[str, Any] | None, duration_s: float, window: int
) -> dict[str, Any]:
    changes = [c for c in result["timeline"]["controller"] if c["changed"] and 0 <= c["t"] <= duration_s]
    link = result["link"]
    row = {
        "name": name,
        "controller": fixed is None,
        "config": None if fixed is None else fixed["name"],
        "config_kbps": None if fixed is None else fixed["kbps"],
        "miou": result["miou"],
        "miou_all_frames": result["miou_all_frames"],
        "miou_by_config": result.get("miou_by_config", {}),
        "latency_ms_p50": result["latency_ms_p50"],
        "latency_ms_p95": result["latency_ms_p95"],
        "latency_ms_max": result["latency_ms_max"],
        "frames_captured": result["frames_captured"],
        "frames_sent": result["frames_sent"],
        "masks_received": result["masks_received"],
        "stale_fraction": result["stale_fraction"],
        "uplink_kbps": result["uplink_kbps"],
        "config_changes": len(changes),
        "changes_per_2s": 2 * len(changes) / duration_s,
        "max_in_flight": window,
        "in_flight_max": result["in_flight"]["max"],
        "in_flight_max_ignoring_timeout": result["in_flight"]["max_ignoring_timeout"],
        "shaper_backlog_bytes_max": link["backlog_bytes_max"],
        "shaper_backlog_bytes_p95": link["backlog_bytes_p95"],
        "shaper_backlog_ms_max": link["backlog_ms_max"],
        "shaper_drops": link["drops"],
        "link_kbps_mean": link["rate_kbps_mean"],
        "lr_size": result["lr_size"],
        "sr_model": result["sr_model"],
        "mode": result["mode"],
    }
    return row


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v: Any, spec: str) -> str:
    """A number as ``spec``, or "-" for none (a run that scored no mask has no mIoU)."""
    return format(v, spec) if _ok(v) else "-"


def evaluate_targets(rows: list[dict[str, Any]], median_kbps: float, duration_s: float) -> dict[str, Any]:
    """The issue's targets, checked on this run's numbers."""
    ctl = next((r for r in rows if r["controller"]), None)
    fixed = [r for r in rows if not r["controller"]]
    bounded = [r for r in fixed if _ok(r["latency_ms_p95"]) and r["latency_ms_p95"] < 1000]
    out: dict[str, Any] = {
        "fixed_over_link_median": [
            {
                "config": r["config"],
                "config_kbps": r["config_kbps"],
                "latency_ms_p95": r["latency_ms_p95"],
                "stale_fraction": r["stale_fraction"],
            }
            for r in fixed
            if r["config_kbps"] and r["config_kbps"] > median_kbps
        ],
        "in_flight_within_window": all(r["in_flight_max"] <= r["max_in_flight"] for r in rows),
    }
    if ctl is not None:
        # A run that scored no mask has no mIoU (null): it is no best fixed point, and a
        # controller without one meets nothing.
        best = max((r for r in bounded if _ok(r["miou"])), key=lambda r: r["miou"], default=None)
        best_all = max(
            (r for r in bounded if _ok(r["miou_all_frames"])),
            key=lambda r: r["miou_all_frames"],
            default=None,
        )
        out.update(
            controller_p95_under_1s=_ok(ctl["latency_ms_p95"]) and ctl["latency_ms_p95"] < 1000,
            best_bounded_fixed=None if best is None else best["config"],
            controller_miou_ge_best_bounded_fixed=_ok(ctl["miou"])
            and (best is None or ctl["miou"] >= best["miou"]),
            controller_miou_all_frames_ge_best_bounded_fixed=_ok(ctl["miou_all_frames"])
            and (best_all is None or ctl["miou_all_frames"] >= best_all["miou_all_frames"]),
            controller_changes_per_2s=ctl["changes_per_2s"],
            controller_changes_ok=ctl["config_changes"] <= duration_s / 2,
        )
    return out


def summary_table(report: dict[str, Any]) -> str:
    lines = [
        f"cloudseg netem: {report['trace']} from {report['trace_offset_s']:g} s, {report['duration_s']:g} s per run, "
        f"link median {report['link_median_kbps']:.0f} kbps, {report['mode']}, delay {report['delay_ms']:g} ms, "
        f"loss {report['loss']:g}",
        f"{'run':<30}{'kbps':>7}{'mIoU':>7}{'all':>7}{'p50':>7}{'p95':>7}{'sent':>6}{'masks':>6}{'stale':>6}"
        f"{'chg':>5}{'q max':>8}{'infl':>5}",
    ]
    for r in report["runs"]:
        lines.append(
            f"{r['name']:<30}{_fmt(r['uplink_kbps'], '.0f'):>7}{_fmt(r['miou'], '.3f'):>7}{_fmt(r['miou_all_frames'], '.3f'):>7}"
            f"{_fmt(r['latency_ms_p50'], '.0f'):>7}{_fmt(r['latency_ms_p95'], '.0f'):>7}{r['frames_sent']:>6}"
            f"{r['masks_received']:>6}{_fmt(r['stale_fraction'], '.2f'):>6}{r['config_changes']:>5}"
            f"{r['shaper_backlog_bytes_max'] / 1e3:>7.0f}k{r['in_flight_max']:>5}"
        )
    return "\n".join(lines)


def run_experiment(opts: ExperimentOptions) -> dict[str, Any]:
    """All runs of one trace; returns the report (also DIR/netem.json, DIR/netem.png)."""
    from cloudseg_ros.paths import config_file

    opts.validate()
    trace = open_trace(str(opts.trace))
    profile_path = opts.profile or config_file("profile.yaml")
    profile = load_profile(profile_path)
    cam = profile.meta.get("camera", {})
    width, height, fps = int(cam.get("width", 1024)), int(cam.get("height", 512)), float(cam.get("fps", 10.0))
    # The plan (profile points by name, the controller's start) before anything is rendered,
    # set up or written: a mistyped --fixed name failed only after that.
    plans: list[tuple[str, dict[str, Any] | None]] = []
    if opts.controller:
        plans.append(("controller", None))
    for i in pick_fixed(profile, opts.fixed):
        p = profile[i]
        plans.append((f"fixed {p.name}", {"name": p.name, "kbps": p.kbps, "knobs": dict(p.knobs)}))
    start = start_point(profile, opts.controller_params)
    from cloudseg_ros.evaluation.frames import MODEL_NAMES, check_held_out
    from cloudseg_ros.models.checkpoint import weights_dir

    check_held_out([opts.scene_seed], weights_dir(opts.weights_dir), MODEL_NAMES)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        removed = remove_leftovers()
        if removed:
            log.info("removed namespaces left by a killed run: %s", ", ".join(removed))
        netns = pick_mode(opts.mode)
        scene = prepare_scene(opts.scene_seed, opts.scene_frames, width, height)
        camera = {"source": "folder", "uri": str(scene), "width": width, "height": height, "fps": fps}
        cloud = {"sr_model": profile.meta.get("cloud", {}).get("sr_model", "bilinear")}
        if opts.weights_dir:
            cloud["weights_dir"] = str(opts.weights_dir)
        if opts.engine:
            cloud["engine"] = opts.engine
        rows, results = [], {}
        for name, fixed in plans:
            knobs = dict(start.knobs) if fixed is None else fixed["knobs"]
            controller = None if fixed is not None else {"profile_file": str(Path(profile_path).resolve()),
                                                         **opts.controller_params}  # fmt: skip
            run = RunOptions(
                name=name.replace(" ", "_"), trace=trace, duration_s=opts.duration_s, out_dir=out,
                edge={**knobs, "camera_fps": fps}, controller=controller, camera=camera, cloud=cloud,
                netns=netns, delay_ms=opts.delay_ms, loss=opts.loss, trace_offset_s=opts.trace_offset_s,
                partitions=list(opts.partitions),
            )  # fmt: skip
            print(f"run {len(rows) + 1}/{len(plans)}: {name} ...", flush=True)
            result = Run(run).execute()
            results[name] = result
            row = _row(name, result, fixed, opts.duration_s, edge_window())
            rows.append(row)
            print(f"  mIoU {_fmt(row['miou'], '.3f')} (all frames {_fmt(row['miou_all_frames'], '.3f')}), p50 "
                  f"{_fmt(row['latency_ms_p50'], '.0f')} ms, p95 {_fmt(row['latency_ms_p95'], '.0f')} ms, "
                  f"{row['frames_sent']} sent, {row['config_changes']} changes", flush=True)  # fmt: skip
        median = trace.median_kbps(opts.duration_s, opts.trace_offset_s)
        report = {
            "trace": trace.name,
            "trace_offset_s": opts.trace_offset_s,
            "duration_s": opts.duration_s,
            "link_median_kbps": median,
            "link_mean_kbps": float(trace.series(opts.duration_s, 1.0, opts.trace_offset_s).mean()),
            "mode": "netns" if netns else "loopback",
            "delay_ms": opts.delay_ms,
            "loss": opts.loss,
            "camera": {"width": width, "height": height, "fps": fps, "scene_seed": opts.scene_seed},
            "profile": {"file": Path(profile_path).name, "points": [p.to_dict() for p in profile.points]},
            "runs": rows,
        }
        report["targets"] = evaluate_targets(rows, median, opts.duration_s)
        (out / "netem.json").write_text(dumps(report, indent=2) + "\n")
        (out / "timelines.json").write_text(dumps(results) + "\n")
        from cloudseg_ros.netem.plot import plot_runs

        plot_runs(results, profile, out / "netem.png", trace.name)
        print(summary_table(report))
        print(f"report: {out / 'netem.json'}\nplot: {out / 'netem.png'}")
        return report
    except _Terminated:
        raise Terminated from None
    except CloudsegError:
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
