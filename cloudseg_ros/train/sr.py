"""Step 2: base SR training. L1 between SR(LR) and HR on small patches of many frames.

Labels are never read: as the paper notes, unlabelled frames serve SR training just as
well, so the data section can list many more frames than the segmenter's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.models import build_model
from cloudseg_ros.train.data import Batch, CropSampler, FrameBank, FrameSpec
from cloudseg_ros.train.loop import LoopConfig, fit, pick_device


def train_sr(cfg: dict[str, Any], seed: int) -> tuple[nn.Module, dict[str, Any]]:
    """Build and train the SR model of ``cfg``; returns it (eval, CPU) and a summary."""
    device = pick_device()
    model = build_model(cfg["model"]).to(device)
    bank = FrameBank(FrameSpec.from_config(cfg["data"]))
    sampler = CropSampler(bank, tuple(cfg["crop"]), int(cfg["batch_size"]), seed)

    def step(batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        hr = torch.from_numpy(batch.hr).to(device)
        lr = torch.from_numpy(batch.lr).to(device)
        return F.l1_loss(model(lr), hr), {}

    model.train()
    last = fit(model.parameters(), step, iter(sampler), LoopConfig.from_config(cfg["optim"]), name="sr")
    return model.eval().cpu(), {"train_frames": len(bank), "final_l1": last.get("loss")}
