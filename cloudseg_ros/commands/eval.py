"""`cloudseg eval --out DIR`: Table 1, Figure 5, Table 2 and a side-by-side picture on
held-out scene seeds, with the project's own models, engines and H.264 codec.

  cloudseg eval --out eval_out --scene-seed 1000 --frames 20
  cloudseg eval --out eval_out --runs runs/seed1 runs/seed2 --sweep runs/sweep   # spread, lambda sweep
"""

from __future__ import annotations

import argparse

from cloudseg_ros.commands.argtypes import ENGINES, out_dir, positive_int, scene_seed


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="reproduce the paper's tables on held-out scene frames")
    parser.add_argument(
        "--out", type=out_dir, required=True, help="directory for eval.json and the PNG plots"
    )
    parser.add_argument(
        "--scene-seed",
        type=scene_seed,
        nargs="+",
        default=[1000, 1001, 1002],
        help="held-out scene seed(s) (default 1000 1001 1002; seeds the models were trained or "
        "validated on are refused)",
    )
    parser.add_argument("--frames", type=positive_int, default=20, help="consecutive frames per scene seed")
    parser.add_argument("--size", default="1024x512", help="HR frame size WxH (multiples of 32)")
    parser.add_argument("--variant", default="default", help="scene variant")
    parser.add_argument("--weights", help="weights directory (default: the shipped weights)")
    parser.add_argument("--engine", default="auto", choices=ENGINES, help="inference engine (default auto)")
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument(
        "--runs", nargs="*", default=[], help="weights dirs of SR models trained with other seeds"
    )
    parser.add_argument("--sweep", help="directory of fine-tuned SR checkpoints for the lambda sweep")
    parser.add_argument("--table2-size", default="2048x1024", help="frame size for server stage timings")
    parser.add_argument("--no-fig5", action="store_true", help="skip the H.264 bandwidth sweep")
    parser.add_argument(
        "--chroma", help="chroma sampling of every fig5 stream: yuv444 or yuv420 (default: the edge's)"
    )
    parser.add_argument("--no-table2", action="store_true", help="skip the stage timings")
    parser.set_defaults(func=run)


def parse_size(text: str, multiple: int = 32, minimum: tuple[int, int] = (64, 32)) -> tuple[int, int]:
    """``WxH``, each a multiple of ``multiple`` and at least ``minimum``; ConfigError otherwise."""
    from cloudseg_ros.errors import ConfigError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size must look like 1024x512, got {text!r}") from None
    if w % multiple or h % multiple:
        raise ConfigError(f"size {text} must be a multiple of {multiple}")
    if w < minimum[0] or h < minimum[1]:
        raise ConfigError(f"size {text} is below the smallest, {minimum[0]}x{minimum[1]}")
    return w, h


def run(args: argparse.Namespace) -> int:
    from cloudseg_ros.evaluation.suite import run_suite

    return run_suite(
        out=args.out,
        seeds=args.scene_seed,
        frames=args.frames,
        size=parse_size(args.size),
        variant=args.variant,
        weights=args.weights,
        engine=args.engine,
        threads=args.threads,
        runs=args.runs,
        sweep=args.sweep,
        table2_size=None if args.no_table2 else parse_size(args.table2_size),
        fig5=not args.no_fig5,
        chroma=args.chroma,
    )
