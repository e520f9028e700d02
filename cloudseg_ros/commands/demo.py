"""`cloudseg demo`: robot and cloud graphs on this machine, linked only by zenoh."""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import (
    ENGINES,
    frame_size_error,
    node_param,
    out_dir,
    out_file,
    positive,
    positive_int,
    scene_seed,
)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1024x512, got {text!r}") from None
    problem = frame_size_error(w, h)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run robot and cloud graphs on the embedded scene and write a report",
        description="Starts the cloud graph and N robot graphs as separate processes in different ROS "
        "domains, connected only through zenoh on loopback, plays the embedded driving scene, and writes "
        "DIR/report.json, snapshot PNGs and an overlay video.",
    )
    p.add_argument("--duration", type=positive, default=60.0, help="seconds to record (default 60)")
    p.add_argument("--out", type=out_dir, default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--hr-size", type=_size, default=(1024, 512), help="camera size WxH (default 1024x512)")
    p.add_argument("--fps", type=positive, default=10.0, help="camera rate (default 10)")
    p.add_argument("--robots", type=positive_int, default=1, help="number of robots (default 1)")
    p.add_argument(
        "--seed",
        type=scene_seed,
        default=0,
        help="scene seed of the first robot (default 0)",
    )
    p.add_argument("--variant", choices=("default", "static", "fast"), default="default")
    p.add_argument("--codec", choices=("h264", "h265", "jpeg"), help="uplink codec (default: config)")
    p.add_argument(
        "--downscale",
        type=node_param("edge", "downscale"),
        help="camera size / sent size (default: config, 4)",
    )
    p.add_argument(
        "--bitrate",
        type=node_param("edge", "bitrate_kbps"),
        help="H.264/H.265 bitrate in kbit/s (default: config)",
    )
    p.add_argument(
        "--sr-model", type=node_param("cloud", "sr_model"), help="cloud upscaler (default: config)"
    )
    p.add_argument("--engine", choices=ENGINES, help="inference engine")
    p.add_argument("--weights-dir", help="model files to serve (default: the shipped weights)")
    p.add_argument("--tls", action="store_true", help="mutual TLS and per-robot access control on the link")
    p.add_argument(
        "--record",
        type=out_file,
        metavar="FILE.mcap",
        help="also write the robots' camera, uplink and mask topics to this MCAP file",
    )
    p.add_argument(
        "--startup-timeout", type=positive, default=120.0, help="seconds to wait for the first mask"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cloudseg_ros.demo.run import DemoOptions, run_demo
    from cloudseg_ros.errors import ConfigError

    last = args.seed + args.robots - 1  # robot i replays the scene of seed + i
    try:
        scene_seed(str(last))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(
            f"--seed {args.seed} with --robots {args.robots}: the last robot's seed {exc}"
        ) from None

    edge = {k: v for k, v in (("codec", args.codec), ("downscale", args.downscale),
                              ("bitrate_kbps", args.bitrate)) if v is not None}  # fmt: skip
    cloud = {k: v for k, v in (("sr_model", args.sr_model), ("engine", args.engine),
                               ("weights_dir", args.weights_dir)) if v is not None}  # fmt: skip
    run_demo(
        DemoOptions(
            out=args.out,
            duration_s=args.duration,
            hr_size=args.hr_size,
            fps=args.fps,
            robots=args.robots,
            seed=args.seed,
            variant=args.variant,
            startup_timeout_s=args.startup_timeout,
            tls=args.tls,
            edge=edge,
            cloud=cloud,
            record=args.record,
        )
    )
    return 0
