"""`cloudseg netem --trace FILE --duration S --out DIR`: the bitrate controller on an emulated link.

  cloudseg netem --trace traces/TMobile-UMTS-driving.up --duration 120 --out netem_umts
  cloudseg netem --trace my.up --duration 60 --out /tmp/n --fixed x4-h264-160k --no-controller
  cloudseg netem --trace my.up --duration 40 --out /tmp/p --fixed --partition 10:10   # link cut 10 s
  cloudseg netem --trace shape:square-1500k-100k-3s --duration 60 --out /tmp/sq         # a synthetic link

Needs root (network namespaces, tc) for the real emulation; elsewhere it runs on loopback
with the relay doing rate, delay and loss (``--mode`` forces one or the other).
"""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import ENGINES, non_negative, out_dir, positive, positive_int, scene_seed
from cloudseg_ros.netem import SCENE_SEED


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "netem",
        help="run the node graph over an emulated cellular uplink, with the controller and fixed configurations",
        description="Robot and cloud graphs in two network namespaces joined by a veth pair shaped with tc from a "
        "mahimahi trace (delay and loss from a user-space relay). One run with the bitrate controller and one per "
        "fixed configuration; writes DIR/netem.json, DIR/netem.png and per-run logs.",
    )
    p.add_argument(
        "--trace",
        required=True,
        help="mahimahi uplink trace (one ms timestamp per 1500-byte packet), or shape:NAME for a synthetic "
        "link (const-100k, square-1500k-100k-3s, outage-4s-every-20s, ...: cloudseg_ros/netem/shapes.py)",
    )
    p.add_argument("--duration", type=positive, required=True, help="seconds recorded per run (at least 5)")
    p.add_argument("--out", type=out_dir, required=True, help="output folder")
    p.add_argument("--profile", help="controller profile (default: the shipped config/profile.yaml)")
    p.add_argument(
        "--fixed",
        nargs="*",
        help="profile points to run fixed, by name (default: top, middle and bottom; --fixed alone: "
        "none, then the controller must run)",
    )
    p.add_argument(
        "--no-controller", action="store_true", help="only the fixed configurations (at least one)"
    )
    p.add_argument("--mode", choices=("auto", "netns", "loopback"), default="auto")
    p.add_argument(
        "--delay-ms", type=non_negative, default=20.0, help="one-way delay added each way (default 20)"
    )
    p.add_argument(
        "--loss", type=non_negative, default=0.0, help="segment loss probability, 0 <= loss < 0.5 (default 0)"
    )
    p.add_argument(
        "--trace-offset", type=non_negative, default=0.0, help="start this many seconds into the trace"
    )
    p.add_argument(
        "--scene-seed",
        type=scene_seed,
        default=SCENE_SEED,
        help=f"scene the camera replays (default {SCENE_SEED}; seeds the models were trained on are refused)",
    )
    p.add_argument(
        "--scene-frames", type=positive_int, default=200, help="frames rendered once and looped (default 200)"
    )
    p.add_argument("--weights-dir", help="model files for the cloud (default: the shipped weights)")
    p.add_argument("--engine", choices=ENGINES)
    p.add_argument("--partition", action="append", default=[], metavar="AT:SECONDS",
                   help="cut the link AT seconds after the first mask for SECONDS (repeatable)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="controller parameter, e.g. --set hold_s=6")  # fmt: skip
    p.set_defaults(func=run)


def _params(pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` pairs as the controller node's parameter types: a key it does not
    declare, or a value of another type, is refused here rather than by the node at start
    (whose log the user would have to find). An integer is taken for a float parameter."""
    import yaml

    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.nodes.controller_node import PARAMS

    declared = {p.name: p.default for p in PARAMS}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        if key not in declared:
            raise ConfigError(
                f"--set {key}: not a controller parameter; one of: {', '.join(sorted(declared))}"
            )
        v, want = yaml.safe_load(value), type(declared[key])
        if want is float and type(v) is int:
            v = float(v)
        if type(v) is not want:
            kind = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}[want]
            raise ConfigError(f"--set {pair!r}: {key} takes {kind}, got {value!r}")
        out[key] = v
    return out


def _partitions(specs: list[str]) -> list[tuple[float, float]]:
    from cloudseg_ros.errors import ConfigError

    out = []
    for spec in specs:
        try:
            at, seconds = (float(v) for v in spec.split(":"))
        except ValueError:
            raise ConfigError(f"--partition {spec!r}: expected AT:SECONDS, e.g. 10:10") from None
        out.append((at, seconds))
    return out


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cloudseg_ros.netem.experiment import ExperimentOptions, run_experiment

    run_experiment(
        ExperimentOptions(
            trace=args.trace,
            duration_s=args.duration,
            out=args.out,
            profile=Path(args.profile) if args.profile else None,
            fixed=args.fixed,
            controller=not args.no_controller,
            mode=args.mode,
            delay_ms=args.delay_ms,
            loss=args.loss,
            trace_offset_s=args.trace_offset,
            scene_seed=args.scene_seed,
            scene_frames=args.scene_frames,
            weights_dir=args.weights_dir,
            engine=args.engine,
            controller_params=_params(args.set),
            partitions=_partitions(args.partition),
        )
    )
    return 0
