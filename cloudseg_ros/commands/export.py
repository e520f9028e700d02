"""`cloudseg export`: write the ONNX files of trained checkpoints (single-file ONNX with
dynamic H/W; segmenters also get the key-frame-reuse decode graph) and record their
sha256 in the metadata JSON."""

from __future__ import annotations

import argparse

from cloudseg_ros.paths import weights_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export trained models to ONNX")
    parser.add_argument(
        "--weights",
        default=str(weights_dir()),
        help="directory with <name>.pt/.json (default: the package's weights folder, %(default)s)",
    )
    parser.add_argument("names", nargs="*", help="checkpoints to export (default: every <name>.pt there)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from cloudseg_ros.engines.export import export_model
    from cloudseg_ros.errors import ConfigError

    torch.set_num_threads(2)
    directory = Path(args.weights)
    if not directory.is_dir():
        raise ConfigError(f"--weights {directory}: no such folder")
    names = args.names or sorted(p.stem for p in directory.glob("*.pt"))
    if not names:
        raise ConfigError(f"no checkpoints (*.pt) in {directory}")
    for name in names:
        for path in export_model(directory, name):
            print(f"{path} {path.stat().st_size / 1e6:.2f} MB")
    return 0
