"""Layers shared by the architectures: conv-BN-ReLU, depthwise-separable conv, in-graph
normalisation and the fixed-window pyramid pooling.

Everything here exports to ONNX with dynamic H/W (no adaptive pooling with a size that
depends on the input, no Python-side shape arithmetic), which is what lets one ONNX file
serve 512x256, 1024x512 and 2048x1024 frames and be built into a TensorRT engine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Per-channel statistics of RGB frames in [0, 1] (ImageNet values: the scene's are close
# enough, and fixed constants keep the graph independent of any dataset pass).
RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """(x - mean) / std inside the graph, so every engine takes plain [0, 1] float input."""

    def __init__(self, mean: tuple[float, ...] = RGB_MEAN, std: tuple[float, ...] = RGB_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvBNReLU(nn.Sequential):
    """k x k convolution + batch norm (+ ReLU); BN folds into the conv at export."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        relu: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                cin,
                cout,
                kernel,
                stride,
                padding=dilation * (kernel // 2),
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1: the cheap conv of the high-resolution branches,
    where pixels are many and a dense 3x3 would dominate the frame time."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            ConvBNReLU(cin, cin, 3, stride, dilation=dilation, groups=cin, relu=False),
            ConvBNReLU(cin, cout, 1),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convs with an identity shortcut (ResNet basic block); dilation widens the
    receptive field of the deep low-resolution branch without further downsampling."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(channels, channels, 3, dilation=dilation)
        self.conv2 = ConvBNReLU(channels, channels, 3, dilation=dilation, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(self.conv1(x)))


class WindowPyramidPooling(nn.Module):
    """PSP-style context with fixed pooling WINDOWS rather than fixed bin counts.

    Adaptive pooling to n x n bins needs the bin size at export time; pooling with fixed
    windows (plus one global pool) gives the same multi-scale context, exports to plain
    AveragePool/ReduceMean with dynamic H/W, and works for any feature size (ceil mode
    covers a partial last window)."""

    def __init__(self, channels: int, windows: tuple[int, ...] = (2, 4, 8)) -> None:
        super().__init__()
        self.windows = tuple(int(w) for w in windows)
        self.project = ConvBNReLU(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        out = x + x.mean(dim=(2, 3), keepdim=True)
        for w in self.windows:
            pooled = F.avg_pool2d(x, w, w, ceil_mode=True, count_include_pad=False)
            out = out + F.interpolate(pooled, size=size, mode="bilinear", align_corners=False)
        return self.project(out)


def upsample_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``ref`` (half-pixel centres, as cv2)."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
