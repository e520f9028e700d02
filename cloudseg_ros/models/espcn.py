"""ESPCN x4 (Shi et al., 2016): three convs at LR and one sub-pixel shuffle, the tiny SR
baseline. RGB in/out (the original works on luma only); tanh activations as in the paper.
``residual=True`` adds the bilinear upscale of the input, like our CARN-M, so the two
differ only in the body when compared in Table 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.models.registry import register_model


@register_model("espcn")
class ESPCN(nn.Module):
    """LR (N,3,h,w) in [0,1] -> SR (N,3,4h,4w) in [0,1]."""

    def __init__(self, scale: int = 4, widths: tuple[int, int] = (64, 32), residual: bool = True) -> None:
        super().__init__()
        self.scale = scale
        self.residual = residual
        w0, w1 = widths
        self.body = nn.Sequential(
            nn.Conv2d(3, w0, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(w0, w1, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(w1, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        out = self.body(lr - 0.5)
        if self.residual:
            out = out + F.interpolate(lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        else:
            out = out + 0.5
        return out.clamp(0.0, 1.0)
