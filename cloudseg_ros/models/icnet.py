"""ICNet-style cascade segmenter with data reuse of the received low-resolution frame.

Three branches, as ICNet (Zhao et al., 2018), cheap to expensive per pixel in reverse:

* low  (1/4 input): the deep branch. It takes the RECEIVED low-resolution frame directly
  (CloudSeg §3.2, data reuse): no SR -> downsize round trip, and no loss from re-sampling
  the super-resolved frame. Output stride 8 of the LR frame = 1/32 of HR, with window
  pyramid pooling for context. Its output is the "deep feature" reused across frames.
* mid  (1/2 input, pooled in-graph from the HR frame): three strided convs -> 1/16 of HR.
* high (full HR frame): three strided convs -> 1/8 of HR, plus a 1/4 detail tap that
  the head fuses back in, so thin poles and distant pedestrians keep their shape.
* half head (optional, ``fine_width`` > 0): one more light stage that classifies at 1/2
  of HR from the first high-branch conv. With the head at 1/4 (ICNet's own output stride)
  every row of Table 1 is classified on the LR frame's grid, and what the HR frame adds
  over a blurred one is capped by that grid; at 1/2 a 2-px pole has a pixel of its own.

Cascade feature fusion (CFF) merges low into mid and then into high; each fusion has an
auxiliary classifier so training applies label guidance at every branch (0.4, 0.4, 1.0).

Key-frame reuse: :meth:`encode_low` is everything that depends on the LR frame alone;
:meth:`decode` recomputes only the light high-resolution branches from an HR frame and a
(possibly older) low-branch feature map. For a USEFUL frame the cloud calls decode with
the KEY frame's feature map.
"""

from __future__ import annotations

import torch
from torch import nn

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.common import (
    ConvBNReLU,
    Normalize,
    ResidualBlock,
    SeparableConv,
    WindowPyramidPooling,
    upsample_like,
)
from cloudseg_ros.models.registry import register_model
from cloudseg_ros.scene.labels import NUM_CLASSES


class CascadeFeatureFusion(nn.Module):
    """ICNet CFF: upsample the coarse map x2, dilated 3x3 on it, 1x1 on the fine map, sum.
    Returns the fused map and the auxiliary logits of the upsampled coarse input."""

    def __init__(self, coarse: int, fine: int, out: int, num_classes: int) -> None:
        super().__init__()
        self.coarse = ConvBNReLU(coarse, out, 3, dilation=2, relu=False)
        self.fine = ConvBNReLU(fine, out, 1, relu=False)
        self.aux = nn.Conv2d(coarse, num_classes, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = upsample_like(coarse, fine)
        return self.act(self.coarse(up) + self.fine(fine)), self.aux(up)


def _strided_stem(widths: tuple[int, int, int]) -> nn.Sequential:
    """Three stride-2 stages (dense first conv on RGB, separable after): 1/8 of the input."""
    c0, c1, c2 = widths
    return nn.Sequential(ConvBNReLU(3, c0, 3, 2), SeparableConv(c0, c1, 2), SeparableConv(c1, c2, 2))


@register_model("icnet")
class ICNet(nn.Module):
    """ICNet-style segmenter: ``forward(hr, lr)`` -> dict of logits (train), ``predict`` ->
    class ids at HR size (export). HR height and width must be multiples of :attr:`multiple`
    and the LR frame exactly HR / ``scale``."""

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        scale: int = 4,
        low_widths: tuple[int, int, int] = (32, 64, 128),
        low_blocks: tuple[int, int] = (1, 2),
        pool_windows: tuple[int, ...] = (2, 4, 8),
        mid_widths: tuple[int, int, int] = (16, 32, 64),
        high_widths: tuple[int, int, int] = (16, 32, 48),
        fuse_width: int = 64,
        detail_width: int = 32,
        head_refine: bool = False,
        fine_width: int = 0,
    ) -> None:
        super().__init__()
        if scale != 4:
            raise ConfigError("icnet: the low branch is built for x4 low-resolution input (scale=4)")
        self.scale = scale
        self.num_classes = num_classes
        self.low_channels = low_widths[2]
        self.normalize = Normalize()
        l0, l1, l2 = low_widths
        low: list[nn.Module] = [ConvBNReLU(3, l0, 3, 2), ConvBNReLU(l0, l1, 3, 2)]
        low += [ResidualBlock(l1) for _ in range(low_blocks[0])]
        low += [ConvBNReLU(l1, l2, 3, 2)]
        low += [ResidualBlock(l2, dilation=2) for _ in range(low_blocks[1])]
        low += [WindowPyramidPooling(l2, tuple(pool_windows))]
        self.low = nn.Sequential(*low)
        self.mid_pool = nn.AvgPool2d(2, 2)
        self.mid = _strided_stem(tuple(mid_widths))
        self.high_detail = nn.Sequential(
            ConvBNReLU(3, high_widths[0], 3, 2), SeparableConv(*high_widths[:2], 2)
        )
        self.high = SeparableConv(high_widths[1], high_widths[2], 2)
        self.cff_low_mid = CascadeFeatureFusion(l2, mid_widths[2], fuse_width, num_classes)
        self.cff_mid_high = CascadeFeatureFusion(fuse_width, high_widths[2], fuse_width, num_classes)
        self.detail = ConvBNReLU(high_widths[1], detail_width, 1, relu=False)
        self.head_up = ConvBNReLU(fuse_width, detail_width, 1, relu=False)
        # Optional 3x3 (separable) at 1/4 before classifying: lets the head use the shape of
        # thin structures (poles, distant pedestrians) rather than one pixel's features.
        refine: list[nn.Module] = [SeparableConv(detail_width, detail_width)] if head_refine else []
        self.classifier = nn.Sequential(
            nn.ReLU(inplace=True), *refine, nn.Conv2d(detail_width, num_classes, 1)
        )
        self.fine_width = fine_width
        if fine_width > 0:
            # 1/2-resolution head: the first high-branch conv (one 3x3 on the HR pixels) plus
            # the 1/4 head's features, refined and classified at 1/2. The 1/4 classifier
            # stays as label guidance ("aux_high").
            self.fine_skip = ConvBNReLU(high_widths[0], fine_width, 1, relu=False)
            self.fine_up = nn.Sequential(
                nn.ReLU(inplace=False), ConvBNReLU(detail_width, fine_width, 1, relu=False)
            )
            self.fine_classifier = nn.Sequential(
                nn.ReLU(inplace=True),
                SeparableConv(fine_width, fine_width),
                nn.Conv2d(fine_width, num_classes, 1),
            )

    #: HR sizes must be multiples of this: LR /8 in the low branch = HR /32.
    multiple = 32

    def encode_low(self, lr: torch.Tensor) -> torch.Tensor:
        """Deep features of the LR frame (1/32 of HR): the part a USEFUL frame reuses."""
        return self.low(self.normalize(lr))

    def decode(self, hr: torch.Tensor, low: torch.Tensor) -> dict[str, torch.Tensor]:
        """Light high-resolution branches + fusion. Logits: "out" at 1/4 of HR (1/2 with the
        half head, whose 1/4 logits become "aux_high"), "aux_mid" at 1/8, "aux_low" at 1/16
        (the label-guidance outputs)."""
        x = self.normalize(hr)
        mid = self.mid(self.mid_pool(x))
        half = self.high_detail[0](x)
        detail = self.high_detail[1](half)
        high = self.high(detail)
        fused_mid, aux_low = self.cff_low_mid(low, mid)
        fused_high, aux_mid = self.cff_mid_high(fused_mid, high)
        quarter = self.detail(detail) + upsample_like(self.head_up(fused_high), detail)
        aux = {"aux_mid": aux_mid, "aux_low": aux_low}
        if self.fine_width <= 0:
            return {"out": self.classifier(quarter), **aux}
        fine = self.fine_skip(half) + upsample_like(self.fine_up(quarter), half)
        return {"out": self.fine_classifier(fine), "aux_high": self.classifier(quarter), **aux}

    def forward(self, hr: torch.Tensor, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(hr, self.encode_low(lr))

    def logits_to_ids(self, out: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Bilinear logits to HR size, argmax -> (N, H, W) uint8 class ids."""
        return upsample_like(out, hr).argmax(1).to(torch.uint8)

    def predict(self, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return self.logits_to_ids(self(hr, lr)["out"], hr)
