"""Controller replay benchmark: the policy against fixed configurations on every trace, in seconds.

    python bench/controller_replay.py                          # every *.up trace, 60 s windows every 60 s
    python bench/controller_replay.py --set frame_budget_ms=0  # the stream-rate ladder instead
    python bench/controller_replay.py --only TMobile-UMTS-driving.up --windows 4
    python bench/controller_replay.py --shapes                 # the synthetic link shapes instead
    python bench/controller_replay.py --all-fixed              # against every profile point

Replays the control loop in simulated time (cloudseg_ros.controller.replay: the trace's rate
as the netem driver sets it, the edge's real in-flight window, the real BitrateController,
frames as big as the encoder makes them, key frames after changes), for the controller and
for the fixed points the netem experiment runs (top, middle and bottom of the profile; with
``--all-fixed`` every point of the profile, a higher bar), on
consecutive windows of each trace: far more link than the real-time experiment can cover,
so a design is judged on windows and traces it was not tuned on. A mask scores the profile's
accuracy of its point's sent frames (``miou_fresh``), so the score is a mean over masks, not
the experiment's pooled mIoU. Per window: the controller's score, p95 latency and changes,
and the best fixed point whose p95 stays under 1 s; a window is "met" when the controller's
p95 is under 1 s and its score at least that point's (the issue's target).

Prints a table per trace and a summary on stderr, the JSON on stdout (``--json FILE`` too).
The netem experiment (bench/netem.py) stays the measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchutil import add_trace_args, emit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trace_args(parser, "trace file names (default: every *.up)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per window (default 60)")
    parser.add_argument("--windows", type=int, default=15, help="windows per trace at most (default 15)")
    parser.add_argument("--profile", help="controller profile (default: shipped)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="controller settings")
    parser.add_argument(
        "--all-fixed", action="store_true",
        help="compare with every profile point as a fixed configuration, not only the three the netem "
        "experiment runs (a higher bar: a point between them may be bounded and better)",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the JSON to FILE")
    args = parser.parse_args()

    from cloudseg_ros.controller.profile import load_profile
    from cloudseg_ros.controller.replay import replay
    from cloudseg_ros.controller.settings import Settings
    from cloudseg_ros.netem.experiment import pick_fixed
    from cloudseg_ros.netem.shapes import PREFIX, SHAPES, is_shape, open_trace
    from cloudseg_ros.paths import config_file

    profile = load_profile(args.profile or config_file("profile.yaml"))
    settings = _settings(Settings, args.set)
    fixed = (
        [p.name for p in profile.points]
        if args.all_fixed
        else [profile[i].name for i in pick_fixed(profile, None)]
    )
    folder = Path(args.traces)
    if args.shapes is not None:
        names = [PREFIX + n for n in (args.shapes or SHAPES)]
    else:
        names = args.only or sorted(p.name for p in folder.glob("*.up"))
    if not names:  # a checkout without the recorded traces: the synthetic shapes still replay
        print(f"no *.up traces in {folder} (--traces or CLOUDSEG_TRACES): replaying the link shapes",
              file=sys.stderr)  # fmt: skip
        names = [PREFIX + n for n in SHAPES]
    started, rows = time.monotonic(), []
    for name in names:
        trace = open_trace(name if is_shape(name) else str(folder / name))
        windows = min(args.windows, int(trace.period_ms / 1e3 // args.duration))
        print(f"\n{name}: {windows} windows of {args.duration:g} s", file=sys.stderr)
        print(
            f"{'from':>5}  {'controller':>16} {'chg':>4}  {'best bounded fixed':>34}  verdict",
            file=sys.stderr,
        )
        for w in range(windows):
            offset = w * args.duration
            ctl = replay(trace, profile, args.duration, offset, settings)
            fx = [replay(trace, profile, args.duration, offset, fixed=f) for f in fixed]
            bounded = [f for f in fx if f.p95_ms < 1000]
            best = max(bounded, key=lambda f: f.score) if bounded else None
            met = ctl.p95_ms < 1000 and (best is None or ctl.score >= best.score)
            rows.append({"trace": name, "offset_s": offset, "controller": ctl.summary(),
                         "fixed": [f.summary() for f in fx], "best_fixed": best.name if best else None,
                         "met": met})  # fmt: skip
            b = f"{best.name} {best.score:.3f} / {best.p95_ms:4.0f} ms" if best else "-"
            print(f"{offset:5.0f}  {ctl.score:.3f} / {ctl.p95_ms:4.0f} ms {ctl.changes:4d}  {b:>34}  "
                  f"{'met' if met else 'MISSED'}", file=sys.stderr)  # fmt: skip
    met = sum(r["met"] for r in rows)
    scores = [r["controller"]["score"] or 0.0 for r in rows]  # no mask back in a window: nothing
    over = sum(r["controller"]["p95_ms"] is None or r["controller"]["p95_ms"] >= 1000 for r in rows)
    summary = {"windows": len(rows), "met": met, "controller_mean_score": round(sum(scores) / len(scores), 4),
               "controller_p95_over_1s": over, "settings": args.set, "fixed": fixed,
               "seconds": round(time.monotonic() - started, 1)}  # fmt: skip
    print(f"\nmet in {met} of {len(rows)} windows; controller mean score {summary['controller_mean_score']}, "
          f"p95 over 1 s in {over}; {summary['seconds']} s", file=sys.stderr)  # fmt: skip
    emit({"summary": summary, "windows": rows}, args.json)
    return 0


def _settings(settings_cls, pairs: list[str]):
    """KEY=VALUE pairs onto the policy's defaults (types from the defaults)."""
    values = {}
    defaults = settings_cls()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not hasattr(defaults, key):
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE with a controller setting as KEY")
        values[key] = type(getattr(defaults, key))(float(value))
    return settings_cls(**values)


if __name__ == "__main__":
    sys.exit(main())
