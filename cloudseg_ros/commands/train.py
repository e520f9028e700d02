"""`cloudseg train seg|sr|finetune`: the three training steps of CloudSeg (§3.1).

cloudseg train seg      --seed 0 --out runs/seed0          # ICNet-style segmenter
cloudseg train sr       --seed 0 --out runs/seed0          # base CARN-M (L1, unlabelled)
cloudseg train finetune --seed 0 --out runs/seed0          # analytics-aware fine-tuning
cloudseg train seg      --seed 0 --out cloudseg_ros/weights --force   # replace a shipped model
"""

from __future__ import annotations

import argparse
import shlex
import sys

from cloudseg_ros.commands.argtypes import out_dir, positive_int, seed
from cloudseg_ros.paths import weights_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train the segmenter and SR models on the embedded scene")
    parser.add_argument("step", choices=("seg", "sr", "finetune"), help="which training step")
    parser.add_argument(
        "--config", help="YAML config (default: the step's config in cloudseg_ros/train/configs)"
    )
    parser.add_argument(
        "--out",
        type=out_dir,
        default=str(weights_dir()),
        help="directory for <name>.pt and <name>.json; a fine-tuning step also reads its base models "
        "there (default: the package's weights folder, %(default)s)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a shipped checkpoint of the same name in a cloudseg_ros weights folder",
    )
    parser.add_argument("--seed", type=seed, default=0, help="training seed (crops, initial weights)")
    parser.add_argument("--iters", type=positive_int, help="override optim.iters")
    parser.add_argument("--threads", type=positive_int, default=2, help="CPU threads for torch")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. lam=0.1"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.models.checkpoint import is_package_weights
    from cloudseg_ros.train.config import load_config
    from cloudseg_ros.train.validate import validate_config

    overrides = list(args.set) + ([f"optim.iters={args.iters}"] if args.iters else [])
    cfg = load_config(args.step, args.config, overrides)
    validate_config(args.step, cfg)
    target = args.out / f"{cfg.get('name') or args.step}.pt"  # the name run_step saves under
    if target.exists() and is_package_weights(args.out) and not args.force:
        raise ConfigError(
            f"{target} is a shipped model: --force to replace it, or --out another folder "
            "(a fine-tuning step reads its base models from --out)"
        )

    import torch

    from cloudseg_ros.train.runner import run_step

    torch.set_num_threads(max(1, args.threads))
    command = "cloudseg " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_step(args.step, cfg, args.seed, args.out, command)
    return 0
