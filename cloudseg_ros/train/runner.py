"""Run one training step end to end: config -> trained model -> ``<out>/<name>.pt`` and
``<out>/<name>.json`` (model config, command, config, seed, data seeds, metrics)."""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

from cloudseg_ros.models.checkpoint import read_metadata, save_model
from cloudseg_ros.train.data import FrameBank, FrameSpec
from cloudseg_ros.train.loop import pick_device, seed_everything
from cloudseg_ros.train.validate import validate_config

log = logging.getLogger(__name__)


def run_step(step: str, cfg: dict[str, Any], seed: int, out: Path, command: str) -> dict[str, Any]:
    """Train ``step`` ("seg", "sr", "finetune") with ``cfg``; returns the metadata written."""
    import torch

    from cloudseg_ros.evaluation.torch_eval import validate

    validate_config(step, cfg)  # before minutes of rendering frames, not after
    seed_everything(seed)
    start = time.monotonic()
    name = cfg.get("name") or step
    if step == "seg":
        from cloudseg_ros.train.seg import train_segmenter

        model, summary = train_segmenter(cfg, seed)
        val_models = (model, None)
    elif step == "sr":
        from cloudseg_ros.train.sr import train_sr

        model, summary = train_sr(cfg, seed)
        val_models = (None, model)
    else:  # finetune (validate_config refused any other step)
        from cloudseg_ros.train.finetune import finetune_sr

        model, segmenter, summary = finetune_sr(cfg, seed, out)
        val_models = (segmenter, model)
    metrics = {}
    if cfg.get("val"):
        bank = FrameBank(FrameSpec.from_config(cfg["val"]), progress=False)
        metrics = validate(*val_models, bank)
        if step == "seg":  # how the demo default (bilinear x4) fares, next to HR
            from cloudseg_ros.models import build_model

            metrics = {"hr": metrics, "bilinear": validate(model, build_model({"type": "bilinear"}), bank)}
        log.info("%s validation: %s", name, _brief(metrics))
    training = {
        "step": step,
        "command": command,
        "config": cfg,
        "seed": seed,
        "data_seeds": _seed_summary(cfg),
        "summary": summary,
        "validation": metrics,
        "duration_s": round(time.monotonic() - start, 1),
        "torch": torch.__version__,
        "machine": platform.machine(),
        # what else changes the weights bit for bit: the thread count (CPU reductions split
        # differently) and the device
        "threads": torch.get_num_threads(),
        "device": str(pick_device()),
    }
    role = cfg.get("role", "segmenter" if step == "seg" else "sr")
    save_model(out, name, role, cfg["model"], model, training=training)
    log.info("wrote %s and %s", out / f"{name}.pt", out / f"{name}.json")
    return read_metadata(out, name)


def _seed_summary(cfg: dict[str, Any]) -> dict[str, Any]:
    """Which scene seeds and frame indices each data section used (for the record)."""
    out = {}
    for key in ("data", "val"):
        if cfg.get(key):
            spec = FrameSpec.from_config(cfg[key])
            out[key] = {
                "seeds": [min(spec.seeds), max(spec.seeds)],
                "count": len(spec.seeds),
                "frames": spec.frames,
            }
    return out


def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics without the per-class breakdown, for one log line."""
    return {k: _brief(v) if isinstance(v, dict) else v for k, v in metrics.items() if k != "per_class"}
