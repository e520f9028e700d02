"""Network benchmark: the bitrate controller against fixed configurations on cellular traces.

    python bench/netem.py --traces DIR                 # every *LTE*/*UMTS* uplink trace in DIR, 90 s each
    python bench/netem.py --traces DIR --duration 40 --only TMobile-UMTS-driving.up
    python bench/netem.py --quick                      # one trace, 30 s runs
    python bench/netem.py --shapes const-800k --duration 60   # a synthetic link shape instead

Runs ``cloudseg netem`` (real node graph, namespaces + tc, or loopback) per trace into
``--out``/<trace>/, then prints one table per trace and a verdict per target on stderr and
the JSON summary on stdout (``--json FILE`` also writes it). Targets (from the issue):
controller latency p95 < 1000 ms; controller mIoU >= the best fixed configuration whose p95
also stays < 1000 ms; at most one configuration change per 2 s; frames in flight within the
window; the shaper queue bounded. Needs root for namespaces (else it says "loopback").
Traces are not shipped with the package: point ``--traces`` (or CLOUDSEG_TRACES) at them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchutil import add_trace_args, emit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trace_args(parser, "trace file names to run (default: LTE and UMTS ones)")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds per run (default 90)")
    parser.add_argument("--offset", type=float, default=0.0, help="seconds into each trace")
    parser.add_argument("--out", default="bench_netem", help="output folder")
    parser.add_argument("--profile", help="controller profile (default: shipped)")
    parser.add_argument("--weights-dir", help="cloud model files (default: shipped)")
    parser.add_argument("--quick", action="store_true", help="one trace, 30 s runs")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON summary to FILE")
    args = parser.parse_args()

    from cloudseg_ros.netem.experiment import ExperimentOptions, run_experiment, summary_table
    from cloudseg_ros.netem.shapes import PREFIX, SHAPES, is_shape

    folder = Path(args.traces)
    if args.shapes is not None:
        names = [PREFIX + n for n in (args.shapes or SHAPES)]
    else:
        names = args.only or sorted(
            p.name for p in folder.glob("*.up") if "LTE" in p.name or "UMTS" in p.name
        )
    if args.quick:
        names, args.duration = names[:1], 30.0
    if not names:
        print(
            f"bench/netem.py: no traces in {folder} (--traces or CLOUDSEG_TRACES): skipped", file=sys.stderr
        )
        return 0
    from cloudseg_ros.errors import CloudsegError

    summary: dict = {"duration_s": args.duration, "traces": {}, "failed": {}}
    for name in names:
        try:
            report = run_experiment(ExperimentOptions(
                trace=name if is_shape(name) else folder / name, duration_s=args.duration,
                out=Path(args.out) / (name.removeprefix(PREFIX) if is_shape(name) else Path(name).stem),
                trace_offset_s=args.offset, profile=Path(args.profile) if args.profile else None,
                weights_dir=args.weights_dir,
            ))  # fmt: skip
        except (CloudsegError, OSError, RuntimeError) as exc:  # one trace's failure keeps the others' results
            summary["failed"][name] = str(exc)
            print(f"bench/netem.py: {name}: {exc}", file=sys.stderr)
            continue
        summary["traces"][name] = {k: report[k] for k in ("link_median_kbps", "mode", "runs", "targets")}
        print(summary_table(report), file=sys.stderr)
        print(json.dumps(report["targets"], indent=1), file=sys.stderr)
    verdict = {
        name: all(bool(t["targets"].get(k)) for k in ("controller_p95_under_1s", "controller_miou_ge_best_bounded_fixed",
                                                       "controller_changes_ok", "in_flight_within_window"))
        for name, t in summary["traces"].items()
    }  # fmt: skip
    summary["all_targets_met"] = verdict
    emit(summary, args.json)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
