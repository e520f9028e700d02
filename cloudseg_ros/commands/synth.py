"""`cloudseg synth`: write frames of the embedded driving scene in the Cityscapes layout."""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import (
    MAX_FRAME_SIDE,
    MIN_FRAME_SIZE,
    folder_name,
    frame_size_error,
    integer,
    out_dir,
    positive_int,
    scene_seed,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="render frames of the procedural driving scene to a Cityscapes-layout folder",
        description="Render K consecutive frames of the seeded procedural driving scene and write them as "
        "leftImg8bit/gtFine (labelTrainIds) PNGs: a dataset for other tools, or a folder the camera plays "
        "(source: folder, split as written here).",
    )
    p.add_argument("--seed", type=scene_seed, default=0, help="scene seed (default 0)")
    p.add_argument("--frames", type=positive_int, required=True, help="number of consecutive frames to write")
    p.add_argument("--out", type=out_dir, required=True, help="dataset root folder")
    lo, hi = MIN_FRAME_SIZE, MAX_FRAME_SIDE
    p.add_argument("--width", type=integer, default=1024, help=f"even, {lo[0]}..{hi} (default 1024)")
    p.add_argument("--height", type=integer, default=512, help=f"even, {lo[1]}..{hi} (default 512)")
    p.add_argument("--variant", default="default", help="default | static | fast")
    p.add_argument("--split", type=folder_name, default="train", help="split folder (default train)")
    p.add_argument("--city", default=None, help="city folder name (default synth<seed>)")
    p.add_argument("--start", type=int, default=0, help="index of the first frame")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.scene import VARIANTS, DrivingScene, write_cityscapes_frame

    if args.frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {args.frames}")
    problem = frame_size_error(args.width, args.height)
    if problem:
        raise ConfigError(f"--width/--height {problem}")
    if args.width % 2 or args.height % 2:
        raise ConfigError(f"--width/--height must be even, got {args.width}x{args.height}")
    if args.start < 0:
        raise ConfigError(f"--start must be >= 0, got {args.start}")
    if args.variant not in VARIANTS:
        raise ConfigError(f"--variant must be one of {', '.join(VARIANTS)}, got {args.variant!r}")
    city = args.city or f"synth{args.seed}"
    if not city or "/" in city or "_" in city:
        raise ConfigError(f"--city must be a plain name without '/' or '_', got {city!r}")
    scene = DrivingScene(args.seed, args.width, args.height, args.variant)
    t0 = time.perf_counter()
    for k in range(args.frames):
        index = args.start + k
        frame = scene.render(index)
        write_cityscapes_frame(args.out, args.split, city, args.seed, index, frame.image, frame.labels)
    dt = time.perf_counter() - t0
    print(
        f"synth: wrote {args.frames} frames ({args.width}x{args.height}, seed {args.seed}, {args.variant}) "
        f"to {args.out}/leftImg8bit/{args.split}/{city} in {dt:.1f} s"
    )
    return 0
