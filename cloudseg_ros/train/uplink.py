"""Training LR frames as the cloud really receives them: through the robot's video encoder.

An SR model trained on clean INTER_AREA downscales never sees what the uplink does to a
frame: H.264 at 40-640 kbit/s quantises away fine texture and adds block edges, and the
model then sharpens the artefacts instead of the scene (measured: the shipped models lose
~0.035 mIoU between clean and H.264 LR at the same scale). Here a share of the training
frames is replaced by the frame the cloud would decode: the clip leading up to it is
rendered, downscaled and encoded with the robot's own encoder (libx264, zerolatency, VBV)
at a bitrate drawn log-uniformly from the ladder's range, so the target frame is a P-frame
after a short stream start, as on the uplink, and decoded with the cloud's decoder.

Seeded: the same config and seed give the same frames and bitrates.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.train import data
from cloudseg_ros.train.data import SCALE, FrameBank, downscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UplinkSpec:
    """How training LR frames are degraded (the ``uplink`` section of a training config)."""

    codec: str = "h264"
    bitrates_kbps: tuple[float, float] = (40.0, 640.0)  # drawn log-uniformly in this range
    fraction: float = 0.5  # share of frames degraded; the others stay uncompressed
    warmup: int = 3  # frames encoded before the target one
    stride: int = 2  # camera frames between two encoded ones (the selector sends ~half)
    fps: float = 10.0  # the rate the encoder is opened at (the camera's)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> UplinkSpec:
        unknown = set(cfg) - {"codec", "bitrates_kbps", "fraction", "warmup", "stride", "fps"}
        if unknown:
            raise ConfigError(f"uplink: unknown keys {sorted(unknown)}")
        low, high = (float(v) for v in cfg.get("bitrates_kbps", cls.bitrates_kbps))
        spec = cls(
            codec=str(cfg.get("codec", cls.codec)),
            bitrates_kbps=(low, high),
            fraction=float(cfg.get("fraction", cls.fraction)),
            warmup=int(cfg.get("warmup", cls.warmup)),
            stride=int(cfg.get("stride", cls.stride)),
            fps=float(cfg.get("fps", cls.fps)),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        from cloudseg_ros.codec import CODECS

        if self.codec not in CODECS or self.codec == "jpeg":
            raise ConfigError(f"uplink.codec must be a video codec of {CODECS}, got {self.codec!r}")
        low, high = self.bitrates_kbps
        if not 1 <= low <= high:
            raise ConfigError(
                f"uplink.bitrates_kbps must be [low, high] with 1 <= low <= high, got {low}, {high}"
            )
        if not 0 <= self.fraction <= 1:
            raise ConfigError(f"uplink.fraction must be within [0, 1], got {self.fraction}")
        if self.warmup < 0 or self.stride < 1 or not self.fps > 0:
            raise ConfigError("uplink: need warmup >= 0, stride >= 1, fps > 0")


def received_lr(
    seed: int, index: int, width: int, height: int, variant: str, uplink: UplinkSpec, kbps: float
) -> np.ndarray:
    """Frame ``index`` of scene ``seed`` as the cloud decodes it after ``uplink.warmup``
    earlier frames of the clip went through the same encoder at ``kbps``."""
    from cloudseg_ros.codec import make_decoder, make_encoder

    clip = [index - uplink.stride * k for k in range(uplink.warmup, 0, -1)] + [index]
    if clip[0] < 0:
        raise ConfigError(
            f"frame {index} has no {uplink.warmup} frames {uplink.stride} apart before it; "
            f"use training frames >= {uplink.warmup * uplink.stride}"
        )
    lw, lh = width // SCALE, height // SCALE
    encoder = make_encoder(uplink.codec, width=lw, height=lh, fps=uplink.fps, bitrate_kbps=round(kbps))
    decoder = make_decoder(uplink.codec)
    try:
        for k in clip:
            image, _ = data.render(seed, k, width, height, variant)  # via the module: tests swap it
            decoded = decoder.decode(encoder.encode(downscale(image, SCALE)).data, lw, lh)
    finally:
        encoder.close()
        decoder.close()
    return decoded


def degrade_bank(bank: FrameBank, uplink: UplinkSpec, seed: int) -> dict[str, Any]:
    """Replace ``uplink.fraction`` of the bank's LR frames by what the cloud would receive;
    returns a summary (how many, which bitrates) for the training metadata."""
    items = bank.spec.items()
    if len(items) != len(bank):
        raise ConfigError("uplink degradation needs a bank rendered from scene seeds")
    rng = np.random.default_rng(seed + 7919)
    chosen = np.flatnonzero(rng.random(len(bank)) < uplink.fraction)
    low, high = (math.log(v) for v in uplink.bitrates_kbps)
    rates = np.exp(rng.uniform(low, high, size=chosen.size))
    spec = bank.spec
    for n, (i, kbps) in enumerate(zip(chosen, rates, strict=True)):
        s, k = items[i]
        bank.lr[i] = received_lr(s, k, spec.width, spec.height, spec.variant, uplink, kbps)
        if (n + 1) % 100 == 0:
            log.info("uplink frames ready: %d/%d", n + 1, chosen.size)
    return {
        "codec": uplink.codec,
        "frames": int(chosen.size),
        "of": len(bank),
        "kbps_range": list(uplink.bitrates_kbps),
        "kbps_median": float(np.median(rates)) if rates.size else None,
    }
