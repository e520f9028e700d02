"""The graphs that are exported and served, as thin modules over the architectures.

* segmenter (hr, lr) -> (ids, low): a KEY frame; ``low`` is the deep LR feature map the
  pipeline keeps per robot.
* segmenter decode (hr, low) -> ids: a USEFUL frame; only the light HR branches run.
* sr (lr) -> sr.
* fused (lr) -> (ids, low): SR and segmentation in one graph (no host round trip).

Inputs are float32 NCHW in [0, 1]; ids are uint8 (argmax inside the graph), so an engine
hands back one byte per pixel. The same modules back the torch engine, which is what
the engine-equivalence tests compare against.
"""

from __future__ import annotations

import torch
from torch import nn

SEGMENTER_IO = (("hr", "lr"), ("ids", "low"))
DECODE_IO = (("hr", "low"), ("ids",))
SR_IO = (("lr",), ("sr",))
FUSED_IO = (("lr",), ("ids", "low"))
FUSED_DECODE_IO = (("lr", "low"), ("ids",))


class SegmenterGraph(nn.Module):
    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.segmenter.encode_low(lr)
        ids = self.segmenter.logits_to_ids(self.segmenter.decode(hr, low)["out"], hr)
        return ids, low


class DecodeGraph(nn.Module):
    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, hr: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.segmenter.logits_to_ids(self.segmenter.decode(hr, low)["out"], hr)


class FusedGraph(nn.Module):
    def __init__(self, sr: nn.Module, segmenter: nn.Module) -> None:
        super().__init__()
        self.sr = sr
        self.key = SegmenterGraph(segmenter)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key(self.sr(lr), lr)


class FusedDecodeGraph(nn.Module):
    def __init__(self, sr: nn.Module, segmenter: nn.Module) -> None:
        super().__init__()
        self.sr = sr
        self.decode = DecodeGraph(segmenter)

    def forward(self, lr: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return self.decode(self.sr(lr), low)
