"""What every benchmark script shares: how a report leaves it, and where traces come from.

Each script prints its JSON report on stdout (its tables go to stderr) and, with
``--json FILE``, writes the same text to FILE, so a run can be piped or kept.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def emit(report: dict, path: str | os.PathLike | None = None, indent: int = 1) -> None:
    """Print ``report`` as JSON and, if ``path`` is given, write the same text there."""
    text = json.dumps(report, indent=indent)
    print(text)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")


def add_trace_args(parser: argparse.ArgumentParser, only_help: str) -> None:
    """``--traces`` (folder of mahimahi uplink traces), ``--only`` and ``--shapes``."""
    parser.add_argument("--traces", default=os.environ.get("CLOUDSEG_TRACES", "../shared/traces"),
                        help="folder of mahimahi *.up traces")  # fmt: skip
    parser.add_argument("--only", nargs="*", help=only_help)
    parser.add_argument("--shapes", nargs="*", metavar="NAME",
                        help="synthetic link shapes instead of trace files (no NAME: every one; "
                        "cloudseg_ros/netem/shapes.py)")  # fmt: skip
