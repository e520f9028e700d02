"""Bilinear and bicubic upscaling as models, so the baselines go through the same
build/eval/export code as the learned SR models (no parameters, nothing to train)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.models.registry import register_model


class Interpolate(nn.Module):
    """LR (N,3,h,w) -> (N,3,scale*h,scale*w) with a fixed interpolation ``mode``."""

    mode = "bilinear"

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(lr, scale_factor=self.scale, mode=self.mode, align_corners=False)
        return out.clamp(0.0, 1.0)


@register_model("bilinear")
class Bilinear(Interpolate):
    mode = "bilinear"


@register_model("bicubic")
class Bicubic(Interpolate):
    mode = "bicubic"
