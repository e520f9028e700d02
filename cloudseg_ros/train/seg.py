"""Step 1: train the ICNet-style segmenter on labelled HR scene frames.

The low branch sees the LR frame exactly as received from the robot (INTER_AREA x4), the
mid/high branches see the HR frame. Loss = class-weighted cross entropy on the main
output plus 0.4 x each auxiliary output (ICNet's cascade label guidance), all upsampled
to label resolution. Class weights follow ENet (1 / ln(1.02 + frequency)): without them
the few pixels of poles and distant pedestrians barely move the loss.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.models import build_model
from cloudseg_ros.train.data import Batch, CropSampler, FrameBank, FrameSpec
from cloudseg_ros.train.loop import LoopConfig, fit, pick_device

log = logging.getLogger(__name__)

IGNORE = 255


def enet_class_weights(frequencies: np.ndarray, cap: float = 10.0) -> np.ndarray:
    """1 / ln(1.02 + p), capped, normalised to mean 1 over the classes that occur."""
    weights = np.minimum(1.0 / np.log(1.02 + frequencies), cap)
    present = frequencies > 0
    if present.any():
        weights = weights / weights[present].mean()
    return weights.astype(np.float32)


def segmentation_loss(
    outputs: dict[str, torch.Tensor],
    labels: torch.Tensor,
    weights: torch.Tensor | None,
    aux_weight: float = 0.4,
) -> torch.Tensor:
    """Weighted CE of "out" (upsampled to label resolution: thin objects need full-res
    supervision) + aux_weight x CE of each "aux_*" output at ITS resolution against
    subsampled labels (ICNet's cascade label guidance; 3x cheaper than upsampling them)."""
    total = labels.new_zeros((), dtype=torch.float32)
    for key, logits in outputs.items():
        if key == "out":
            up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
            total = total + cross_entropy(up, labels, weights)
        else:
            total = total + aux_weight * cross_entropy(
                logits, subsample_labels(labels, logits.shape[-2:]), weights
            )
    return total


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Weighted CE ignoring 255; 0 (not NaN) for a crop with no labelled pixel."""
    if not bool((labels != IGNORE).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, weight=weights, ignore_index=IGNORE)


def subsample_labels(labels: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Nearest labels at an integer-stride lower resolution (pixel-centre samples)."""
    sy, sx = labels.shape[-2] // size[0], labels.shape[-1] // size[1]
    return labels[..., sy // 2 :: sy, sx // 2 :: sx][..., : size[0], : size[1]]


def to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(batch.hr).to(device),
        torch.from_numpy(batch.lr).to(device),
        torch.from_numpy(batch.labels).to(device),
    )


def train_segmenter(cfg: dict[str, Any], seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """Build, train and return the segmenter (eval mode, on CPU) and a training summary."""
    device = pick_device()
    model = build_model(cfg["model"]).to(device)
    bank = FrameBank(FrameSpec.from_config(cfg["data"]))
    freq = bank.class_frequencies(model.num_classes)
    weights = torch.from_numpy(enet_class_weights(freq, cfg.get("class_weight_cap", 10.0))).to(device)
    aux_weight = float(cfg.get("aux_weight", 0.4))
    sampler = CropSampler(
        bank,
        tuple(cfg["crop"]),
        int(cfg["batch_size"]),
        seed,
        rare_fraction=float(cfg.get("rare_fraction", 0.0)),
        rare_below=float(cfg.get("rare_below", 0.02)),
    )

    def step(batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        hr, lr, labels = to_device(batch, device)
        return segmentation_loss(model(hr, lr), labels, weights, aux_weight), {}

    model.train()
    last = fit(model.parameters(), step, iter(sampler), LoopConfig.from_config(cfg["optim"]), name="seg")
    model.eval().cpu()
    summary = {"train_frames": len(bank), "final_loss": last.get("loss"), "class_frequencies": freq.tolist()}
    return model, summary
