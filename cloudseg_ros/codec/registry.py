"""Codec names -> encoder/decoder factories: the one place that knows which codecs exist.

Explicit imports, no discovery: importing the package costs the same whatever is installed.
"""

from __future__ import annotations

from cloudseg_ros.codec.base import DEFAULT_CHROMA, Decoder, Encoder
from cloudseg_ros.codec.h264 import H264, H265, PyAVDecoder, PyAVEncoder
from cloudseg_ros.codec.jpeg import JpegDecoder, JpegEncoder
from cloudseg_ros.codec.limits import CODECS, PayloadLimits
from cloudseg_ros.errors import ConfigError

_FLAVOURS = {"h264": H264, "h265": H265}


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ConfigError(f"codec {codec!r} unknown; must be one of: {', '.join(CODECS)}")


def make_encoder(
    codec: str,
    *,
    width: int,
    height: int,
    fps: float = 10.0,
    bitrate_kbps: int = 500,
    gop: int = 60,
    preset: str = "veryfast",
    jpeg_quality: int = 80,
    chroma: str = DEFAULT_CHROMA,
) -> Encoder:
    """An encoder for ``width`` x ``height`` RGB frames; ConfigError names any bad parameter.

    H.264/H.265 use ``fps``, ``bitrate_kbps``, ``gop``, ``preset`` and ``chroma`` ("yuv420" or
    "yuv444" sampling of the colour planes); JPEG uses only
    ``jpeg_quality``. The others are accepted and ignored so callers can pass one parameter set
    whatever the codec.
    """
    _check_codec(codec)
    if codec == "jpeg":
        return JpegEncoder(width, height, jpeg_quality, chroma)
    return PyAVEncoder(_FLAVOURS[codec], width, height, fps, bitrate_kbps, gop, preset, chroma)


def make_decoder(codec: str, limits: PayloadLimits | None = None) -> Decoder:
    """A decoder for one stream (one per robot); ``limits`` bound what it accepts."""
    _check_codec(codec)
    if codec == "jpeg":
        return JpegDecoder(limits)
    return PyAVDecoder(_FLAVOURS[codec], limits)
