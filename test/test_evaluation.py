"""Evaluation suite pieces that need no full run: the lambda sweep over a directory of
fine-tuned SR checkpoints exports what training left unexported; `cloudseg eval` itself on one
tiny frame (its report, and the held-out check of every model it scores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cloudseg_ros.evaluation.frames import load_frames
from cloudseg_ros.evaluation.methods import Segmenter
from cloudseg_ros.evaluation.suite import _sweep
from cloudseg_ros.models.checkpoint import read_metadata, write_metadata
from cloudseg_ros.models.tiny import write_tiny_weights


def test_sweep_exports_unexported_checkpoints_and_reads_lambda(tmp_path: Path) -> None:
    weights, sweep = tmp_path / "weights", tmp_path / "sweep"
    weights.mkdir()
    sweep.mkdir()
    write_tiny_weights(weights)
    for lam in (0.0, 0.5):  # as `cloudseg train finetune` leaves them: .pt and .json, no ONNX
        name = f"ft_lam{lam}"
        shutil.copy(weights / "carn_m_cloudseg.pt", sweep / f"{name}.pt")
        meta = read_metadata(weights, "carn_m_cloudseg")
        meta["training"] = {"summary": {"lam": lam, "task": "ce"}}
        write_metadata(sweep, name, meta)
    shutil.copy(weights / "carn_m.json", sweep / "carn_m.json")  # no lambda: not a sweep point
    clip = load_frames([1000], 1, 128, 64)
    rows = _sweep(clip, sweep, Segmenter(weights, engine="onnxruntime", num_threads=1), "onnxruntime", 1)
    assert [(r["name"], r["lam"], r["task"]) for r in rows] == [
        ("ft_lam0.0", 0.0, "ce"),
        ("ft_lam0.5", 0.5, "ce"),
    ]
    assert all(0.0 <= r["miou"] <= 1.0 for r in rows)
    assert (sweep / "ft_lam0.5.onnx").is_file()
    # Retrained in place (the JSON keeps the old export record): exported again, not served stale.
    shutil.copy(weights / "carn_m.pt", sweep / "ft_lam0.5.pt")
    stale = (sweep / "ft_lam0.5.onnx").read_bytes()
    again = _sweep(clip, sweep, Segmenter(weights, engine="onnxruntime", num_threads=1), "onnxruntime", 1)
    assert (sweep / "ft_lam0.5.onnx").read_bytes() != stale
    assert again[0]["miou"] == rows[0]["miou"]  # the untouched one is scored alike


def test_eval_command_writes_its_report(tmp_path: Path, capsys) -> None:
    """`cloudseg eval` end to end on one tiny frame of a held-out seed, shipped weights: the
    report, its plots, the weights it scored (by hash), and each target read (n/a where the
    run cannot show it: one training seed gives no spread to beat)."""
    from cloudseg_ros.cli import main

    out = tmp_path / "eval"
    argv = ["eval", "--out", str(out), "--scene-seed", "1000", "--frames", "1", "--size", "128x64",
            "--no-fig5", "--no-table2"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "eval.json").read_text())
    assert set(report["table1"]) >= {"hr", "bilinear", "bicubic", "espcn", "sr", "cloudseg"}
    assert all(0 <= row["miou"] <= 1 for row in report["table1"].values())
    assert set(report["weights"]) == {"icnet", "espcn", "carn_m", "carn_m_cloudseg"}
    assert all(report["weights"][n] for n in report["weights"])  # the export record's hashes
    assert report["targets"]["cloudseg_gt_sr_gt_bilinear"]["met"] in (None, False)
    assert (out / "table1.png").stat().st_size > 1000
    assert "target cloudseg_within_0.03_of_hr" in capsys.readouterr().out


def test_eval_refuses_a_sweep_model_trained_on_the_eval_frames(tmp_path: Path, capsys) -> None:
    from cloudseg_ros.cli import main

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    meta = {"name": "ce_03", "role": "sr", "training": {"data_seeds": {"data": {"seeds": [990, 1010]}}}}
    (sweep / "ce_03.json").write_text(json.dumps(meta))
    argv = ["eval", "--out", str(tmp_path / "eval"), "--scene-seed", "1000", "--frames", "1", "--size",
            "128x64", "--no-fig5", "--no-table2", "--sweep", str(sweep)]  # fmt: skip
    assert main(argv) == 1
    assert "were used for training" in capsys.readouterr().err
