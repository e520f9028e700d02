"""JPEG through simplejpeg (libjpeg-turbo): every frame is a key frame.

The fallback and the baseline: no inter-frame state, so nothing to resynchronise after a loss,
at several times the bytes of H.264 for the same quality (bench/edge.py measures how many).
Chroma is sampled like the H.264 path (``chroma``, 4:4:4 or 4:2:0), so quality comparisons
are like for like.
"""

from __future__ import annotations

import numpy as np
import simplejpeg

from cloudseg_ros.codec.base import DEFAULT_CHROMA, Decoder, EncodedPacket, Encoder, check_chroma, check_rgb
from cloudseg_ros.errors import ConfigError, PayloadError


def check_quality(quality: int) -> int:
    if not 1 <= quality <= 100:
        raise ConfigError(f"jpeg_quality must be in 1..100, got {quality}")
    return int(quality)


class JpegEncoder(Encoder):
    """Stateless: ``force_key`` is meaningless (always key) and quality changes apply at once."""

    codec = "jpeg"
    rate_control = "quality"

    def __init__(self, width: int, height: int, quality: int = 80, chroma: str = DEFAULT_CHROMA) -> None:
        if width < 1 or height < 1:
            raise ConfigError(f"jpeg frame size must be positive, got {width}x{height}")
        super().__init__(width, height)
        self.quality = check_quality(quality)
        self.chroma = check_chroma(chroma)

    def set_quality(self, quality: int) -> None:
        self.quality = check_quality(quality)

    def encode(self, rgb: np.ndarray, force_key: bool = False) -> EncodedPacket:
        self._check_open()
        rgb = check_rgb(rgb, self.width, self.height)
        data = simplejpeg.encode_jpeg(
            rgb, quality=self.quality, colorspace="RGB", colorsubsampling=self.chroma.removeprefix("yuv")
        )
        return EncodedPacket(data, True, self.codec, self.width, self.height)


class JpegDecoder(Decoder):
    """The header size is checked against the claim before decoding (see limits.validate_payload).

    ``strict=True`` turns libjpeg warnings (e.g. premature end of data) into errors, so a
    truncated JPEG is rejected instead of returned half grey. A JPEG has no checksum: flipped
    bits inside the entropy-coded data decode to a damaged picture that cannot be detected.
    """

    codec = "jpeg"

    def _decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        try:
            return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
        except ValueError as exc:
            raise PayloadError(f"undecodable JPEG ({exc})") from None
