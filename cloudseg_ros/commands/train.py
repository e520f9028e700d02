"""`cloudseg train seg|sr|finetune`: the three training steps of CloudSeg (§3.1).

cloudseg train seg      --seed 0 --out cloudseg_ros/weights    # ICNet-style segmenter
cloudseg train sr       --seed 0 --out cloudseg_ros/weights    # base CARN-M (L1, unlabelled)
cloudseg train finetune --seed 0 --out cloudseg_ros/weights    # analytics-aware fine-tuning
"""

from __future__ import annotations

import argparse
import shlex
import sys

from cloudseg_ros.commands.argtypes import positive_int, seed


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train the segmenter and SR models on the embedded scene")
    parser.add_argument("step", choices=("seg", "sr", "finetune"), help="which training step")
    parser.add_argument(
        "--config", help="YAML config (default: the step's config in cloudseg_ros/train/configs)"
    )
    parser.add_argument(
        "--out", default="cloudseg_ros/weights", help="directory for <name>.pt and <name>.json"
    )
    parser.add_argument("--seed", type=seed, default=0, help="training seed (crops, initial weights)")
    parser.add_argument("--iters", type=positive_int, help="override optim.iters")
    parser.add_argument("--threads", type=positive_int, default=2, help="CPU threads for torch")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. lam=0.1"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from cloudseg_ros.train.config import load_config
    from cloudseg_ros.train.runner import run_step

    torch.set_num_threads(max(1, args.threads))
    overrides = list(args.set) + ([f"optim.iters={args.iters}"] if args.iters else [])
    cfg = load_config(args.step, args.config, overrides)
    command = "cloudseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_step(args.step, cfg, args.seed, Path(args.out), command)
    return 0
