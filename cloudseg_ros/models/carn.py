"""CARN-M-style x4 super-resolution (Ahn et al., 2018): cascading residual network, mobile.

Efficient residual blocks (grouped 3x3 convs + 1x1) inside cascading blocks, where every
block's output is concatenated with all earlier ones and fused by a 1x1 conv, at both
the local and the global level. Two deliberate changes for CPU serving:

* the x4 upsampler is one sub-pixel conv (width -> 3*16, PixelShuffle(4)) instead of two
  x2 stages: the second x2 stage of CARN runs at 4x the pixels and would cost more than the
  whole body at the widths used here;
* the network predicts a residual over the bilinear upscale of its input, so it starts
  from the bilinear baseline and learns only the missing detail (fast to train on 2 cores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.registry import register_model


class EfficientResidualBlock(nn.Module):
    """Grouped 3x3 -> ReLU -> grouped 3x3 -> ReLU -> 1x1, plus identity (CARN-M's block)."""

    def __init__(self, width: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class Cascade(nn.Module):
    """Cascading connections: after each unit, concat(all previous outputs) -> 1x1 -> next."""

    def __init__(self, units: list[nn.Module], width: int) -> None:
        super().__init__()
        self.units = nn.ModuleList(units)
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width * (i + 2), width, 1), nn.ReLU(inplace=True))
            for i in range(len(units))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        out = x
        for unit, fuse in zip(self.units, self.fuse, strict=True):
            features.append(unit(out))
            out = fuse(torch.cat(features, dim=1))
        return out


@register_model("carn_m")
class CARNM(nn.Module):
    """LR (N,3,h,w) in [0,1] -> SR (N,3,4h,4w) in [0,1]."""

    def __init__(
        self, scale: int = 4, width: int = 32, groups: int = 4, blocks: int = 3, units: int = 3
    ) -> None:
        super().__init__()
        if width % groups:
            raise ConfigError(f"carn_m: width {width} must be a multiple of groups {groups}")
        self.scale = scale
        self.entry = nn.Conv2d(3, width, 3, padding=1)
        self.body = Cascade(
            [
                Cascade([EfficientResidualBlock(width, groups) for _ in range(units)], width)
                for _ in range(blocks)
            ],
            width,
        )
        self.upsample = nn.Sequential(
            nn.Conv2d(width, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=self.scale, mode="bilinear", align_corners=False)
        residual = self.upsample(self.body(self.entry(lr - 0.5)))
        return (base + residual).clamp(0.0, 1.0)
