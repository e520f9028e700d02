"""The generic training loop: AdamW, warmup + cosine learning rate, gradient clipping,
progress lines. Knows nothing about models or losses: each task (seg, sr, finetune)
passes a ``step`` that turns one batch into a loss, so the loop is written once."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

StepFn = Callable[[Any], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class LoopConfig:
    """Optimiser and schedule; YAML ``optim:`` keys map to these fields."""

    iters: int = 1000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 50
    min_lr_ratio: float = 0.02
    grad_clip: float = 5.0
    log_every: int = 25

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> LoopConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            from cloudseg_ros.errors import ConfigError

            raise ConfigError(f"unknown optim keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cfg)


def seed_everything(seed: int) -> None:
    """Same seed, same crops, same initial weights, same result (on one device type)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device() -> torch.device:
    """CUDA when there is a GPU, else CPU (threads capped by the caller)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def lr_factor(it: int, cfg: LoopConfig) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio``."""
    if it < cfg.warmup:
        return (it + 1) / cfg.warmup
    progress = (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def fit(
    params: Iterable[torch.nn.Parameter],
    step: StepFn,
    batches: Iterator[Any],
    cfg: LoopConfig,
    name: str = "train",
) -> dict[str, float]:
    """Run ``cfg.iters`` optimisation steps; returns the running means of the last window."""
    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, cfg))
    window: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    start = time.monotonic()
    for it in range(cfg.iters):
        loss, metrics = step(next(batches))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{name}: loss is {loss.item()} at iteration {it}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        for key, value in {"loss": float(loss.detach()), **metrics}.items():
            window.setdefault(key, []).append(value)
        if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iters:
            elapsed = time.monotonic() - start
            eta = elapsed / (it + 1) * (cfg.iters - it - 1)
            means = {k: float(np.mean(v)) for k, v in window.items()}
            text = " ".join(f"{k}={v:.4f}" for k, v in means.items())
            log.info(
                "%s it %d/%d %s lr=%.2e %.2fs/it eta %dm%02ds",
                name,
                it + 1,
                cfg.iters,
                text,
                scheduler.get_last_lr()[0],
                elapsed / (it + 1),
                eta // 60,
                eta % 60,
            )
            last = means
            window = {}
    return last
