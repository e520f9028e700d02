"""The `cloudseg` command: one entry point, one sub-command per module in
`cloudseg_ros.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a function taking the parsed arguments and returning an exit
code. Command modules import only argparse at module level, so `cloudseg --help`
stays fast; heavy imports (torch, rclpy, zenoh) happen inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from cloudseg_ros import __version__
from cloudseg_ros.errors import CloudsegError, Terminated

# Order = order in `cloudseg --help`.
COMMANDS = (
    "demo",
    "synth",
    "train",
    "export",
    "eval",
    "profile",
    "netem",
    "record",
    "certs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudseg",
        description="Cloud semantic segmentation over a weak uplink (CloudSeg for ROS 2).",
    )
    parser.add_argument("--version", action="version", version=f"cloudseg_ros {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"cloudseg_ros.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cloudseg_ros.commands.{name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def os_error_text(exc: OSError) -> str:
    """``<reason>: <file>`` (and ``-> <second file>`` of a rename), as one line."""
    text = exc.strerror or str(exc)
    if exc.filename is not None:
        text += f": {exc.filename}"
    if exc.filename2 is not None:
        text += f" -> {exc.filename2}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # A shell starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: Ctrl-C (or kill -INT) must stop a demo or a recording wherever it runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return int(args.func(args) or 0)
    except CloudsegError as exc:
        print(f"cloudseg {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A file or folder the command cannot write or read (an --out that is a file, a full
        # disk, no permission): the user acts on the path, not on a traceback (-v logs it).
        logging.getLogger("cloudseg").debug("%s failed", args.command, exc_info=True)
        print(f"cloudseg {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("terminated" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
