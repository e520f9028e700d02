"""Evaluation suite pieces that need no full run: the lambda sweep over a directory of
fine-tuned SR checkpoints exports what training left unexported."""

from __future__ import annotations

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
