"""`cloudseg profile --out FILE`: the controller's offline profile (Pareto set of edge knobs).

  cloudseg profile --out config/profile.yaml                 # what the package ships
  cloudseg profile --out /tmp/p.yaml --quick                 # fewer frames and configurations

Writes FILE (YAML, or JSON when it ends in .json) and a plot beside it (FILE with .png).
"""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import (
    ENGINES,
    node_param,
    non_negative,
    out_file,
    positive,
    positive_int,
    scene_seed,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profile",
        help="measure edge configurations (bandwidth, mIoU) and write the controller's Pareto profile",
        description="Runs every configuration of downscale x codec x bitrate/quality x frame-rate cap through "
        "the real edge encoder and the real cloud models on held-out frames of the embedded scene, and keeps "
        "the configurations no other one beats on both bandwidth and accuracy.",
    )
    p.add_argument("--out", type=out_file, required=True, help="profile file to write (.yaml or .json)")
    p.add_argument("--plot", type=out_file, help="plot file (default: --out with .png)")
    p.add_argument("--size", default="1024x512", help="camera size WxH, even (default 1024x512)")
    p.add_argument("--fps", type=positive, default=10.0, help="camera rate the profile is for (default 10)")
    p.add_argument(
        "--scene-seed",
        type=scene_seed,
        nargs="+",
        default=[2000, 2001],
        help="scene seeds (default 2000 2001)",
    )
    p.add_argument("--frames", type=positive_int, help="consecutive frames per seed (default 30; --quick 8)")
    p.add_argument("--variant", default="default", help="scene variant")
    p.add_argument("--weights", help="model files (default: the shipped weights)")
    p.add_argument("--sr-model", default="cloudseg", help="the cloud's sr_model (default cloudseg)")
    p.add_argument("--engine", default="auto", choices=ENGINES, help="inference engine (default auto)")
    p.add_argument("--threads", type=positive_int, default=2, help="inference threads")
    p.add_argument(
        "--downscales",
        type=node_param("edge", "downscale"),  # the edge's own range: a profile it can run
        nargs="+",
        default=[1, 2, 4, 8],
        help="downscale factors, each in the edge's range 1..16 (default 1 2 4 8)",
    )
    p.add_argument(
        "--fps-caps", type=non_negative, nargs="+", help="frame-rate caps (0 = none; default 0 5; --quick 0)"
    )
    p.add_argument(
        "--codecs", nargs="+", choices=["h264", "jpeg"], help="codecs (default h264 jpeg; --quick h264)"
    )
    p.add_argument(
        "--quick", action="store_true", help="defaults of 8 frames per seed, H.264 only, no frame-rate cap"
    )
    p.add_argument(
        "--chroma", help="the edge's chroma to measure with: yuv444 or yuv420 (default: the edge's)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from cloudseg_ros.codec import DEFAULT_CHROMA, check_chroma
    from cloudseg_ros.commands.eval import parse_size
    from cloudseg_ros.controller.profile import save_profile
    from cloudseg_ros.controller.profiler import build_profile, knob_space, plot_profile
    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.evaluation.frames import MODEL_NAMES, check_held_out, load_frames
    from cloudseg_ros.segmenter import CloudPipeline

    width, height = parse_size(args.size, multiple=2)  # any even size: served padded, as the cloud does
    chroma = check_chroma(args.chroma or DEFAULT_CHROMA)
    quick = args.quick  # sets defaults, never what was asked for
    frames = args.frames if args.frames is not None else 8 if quick else 30
    codecs = args.codecs or (["h264"] if quick else ["h264", "jpeg"])
    caps = args.fps_caps or ([0.0] if quick else [0.0, 5.0])
    if frames < 2 or args.fps <= 0:
        raise ConfigError("--frames must be >= 2 and --fps > 0")
    out = args.out
    plot = args.plot or out.with_suffix(".png")
    for folder in {out.parent, plot.parent}:  # now, not after minutes of measuring
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write to {folder}: {exc}") from exc
    pipeline = CloudPipeline(sr_model=args.sr_model, engine=args.engine, num_threads=args.threads,
                             weights_dir=args.weights)  # fmt: skip
    check_held_out(list(args.scene_seed), pipeline.weights, MODEL_NAMES)  # "held-out frames", as eval
    clips = [load_frames([seed], frames, width, height, args.variant) for seed in args.scene_seed]
    # Bitrate ladders are for 1024x512; scale them with the pixel count for other sizes.
    configs = knob_space(args.downscales, caps, codecs, ladder_scale=width * height / (1024 * 512))
    logging.getLogger(__name__).info("profiling %d configurations on %d x %d frames", len(configs),
                                     len(clips), frames)  # fmt: skip
    meta = {
        "camera": {"width": width, "height": height, "fps": args.fps},
        "scene": {"seeds": list(args.scene_seed), "frames": frames, "variant": args.variant},
        "cloud": {"sr_model": args.sr_model, "segmenter": pipeline.segmenter, "engine": pipeline.engine},
        "edge": {"chroma": chroma},  # not a ladder knob: the edge's own setting, measured with
        "weights": "shipped" if args.weights is None else f"custom ({Path(args.weights).name})",
        "accuracy": "mIoU over every camera frame, each scored with the newest mask the robot has for it",
    }
    profile = build_profile(configs, clips, pipeline, args.fps, meta, chroma=chroma)
    header = (
        "Edge configurations the bitrate controller steps through (Pareto set: more kbps, more mIoU).\n"
        "Generated by `cloudseg profile`; regenerate it after retraining the models or for another camera.\n"
        f"Camera {width}x{height} at {args.fps:g} fps; edge chroma={chroma}; "
        f"cloud sr_model={args.sr_model}."
    )
    save_profile(profile, out, header)
    plot_profile(profile, plot)
    print(f"{len(profile.measured)} configurations measured, {len(profile)} on the Pareto set:")
    for p in profile.points:
        print(
            f"  {p.name:<24} {p.kbps:8.0f} kbps  mIoU {p.miou:.4f}  (sent frames {p.miou_fresh:.4f}, sr {p.sr})"
        )
    print(f"profile: {out}\nplot: {plot}")
    return 0
