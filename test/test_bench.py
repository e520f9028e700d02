"""The benchmarks still run: each ``bench/`` script in its quickest mode, as a user runs it.

The README's numbers come from these scripts, and nothing else exercises them, so a change
to the code they drive (a renamed function, a new required argument, a report field) would
otherwise only show the next time someone measures. Each test runs one script as a
subprocess from the repository root, parses the JSON it prints on stdout and checks the
report has the parts the README reads, with values of the right kind. Speeds are not
judged here (the machine is shared; the scripts report ratios measured in one run).

Not run here: ``bench/netem.py`` (minutes of real-time runs; its experiment is covered by
test_netem.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str, timeout: float = 300) -> dict:
    """Run ``bench/<script>`` with ``args`` on the package the tests import; its stdout as
    JSON (the test fails on a non-zero exit, with the script's stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # what the tests import
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"bench/{script} {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def test_edge_bench_reports_codecs_and_the_downscale(tmp_path: Path) -> None:
    out = tmp_path / "edge.json"
    report = run_bench("edge.py", "--quick", "--no-node", "--json", str(out))
    assert json.loads(out.read_text()) == report  # --json writes what stdout printed
    size = report["sizes"][0]
    assert size["downscale_ms"] > 0 and size["downscale_fast_ms"] > 0 and size["selector_ms"] > 0
    codecs = {c["codec"] for c in size["codecs"]}
    assert {"h264", "jpeg"} <= codecs
    for c in size["codecs"]:
        assert c["bytes_per_frame"] > 0 and c["psnr_db"] > 15 and c["encode_ms"] > 0


def test_selector_bench_prints_the_threshold_curve() -> None:
    report = run_bench("selector.py", "--quick")
    table = report["results"]["default"]["oracle"]["table"]
    assert table[0]["setting"] == "send all" and table[0]["sent"] == 1.0
    assert all(0 < row["sent"] <= 1 and row["kbps"] > 0 for row in table)
    assert min(row["sent"] for row in table) < 1  # some threshold skips frames


def test_models_bench_times_the_shipped_graphs() -> None:
    report = run_bench("models.py", "--quick")
    graphs = {(r["model"], r["graph"]) for r in report["results"]}
    assert ("icnet", "segmenter") in graphs and ("icnet", "decode") in graphs
    assert all(r["ms"] > 0 and r["params"] > 0 for r in report["results"])


def test_scene_bench_reports_speed_and_difficulty() -> None:
    report = run_bench("scene.py", "--quick")
    assert report["speed"] and report["difficulty"]


def test_controller_replay_bench_judges_a_window() -> None:
    shape = "step-down-2000k-200k"  # a synthetic link: no trace files needed
    report = run_bench("controller_replay.py", "--shapes", shape, "--duration", "20", "--windows", "1")
    summary, windows = report["summary"], report["windows"]
    assert summary["windows"] == len(windows) == 1
    assert windows[0]["trace"] == f"shape:{shape}"
    assert windows[0]["controller"]["masks"] > 0
    assert {f["name"] for f in windows[0]["fixed"]} == set(summary["fixed"])


def test_controller_replay_bench_without_traces_replays_the_shapes(tmp_path: Path) -> None:
    """A checkout without the recorded traces (they are not shipped): `make bench` stopped at
    this script's exit 2; it now replays the synthetic shapes."""
    report = run_bench(
        "controller_replay.py", "--traces", str(tmp_path), "--duration", "10", "--windows", "1"
    )
    assert report["windows"] and all(w["trace"].startswith("shape:") for w in report["windows"])


def test_fleet_bench_reports_throughput_and_where_the_cpu_goes() -> None:
    report = run_bench("fleet.py", "--sizes", "1", "--duration", "6")
    (row,) = report["runs"]
    assert row["robots"] == 1 and row["masks_per_s"] > 0 and row["masks_received"] > 0
    cores = row["cores_by_node_kind"]  # every node process of the run, measured while it ran
    assert {"cloud_node", "edge_node", "bridge_node", "mask_node"} <= cores.keys(), cores
    assert row["bottleneck"] in cores


def test_batch_bench_compares_batch_sizes_per_engine() -> None:
    report = run_bench(
        "batch.py", "--size", "256x128", "--batches", "1", "2", "--repeats", "2", "--warmup", "1"
    )
    by_engine: dict[str, set[int]] = {}
    for r in report["results"]:
        assert r["ms_per_call"] > 0 and r["ms_per_frame"] > 0
        by_engine.setdefault(r["engine"], set()).add(r["batch"])
    assert by_engine and all(b == {1, 2} for b in by_engine.values()), by_engine
