"""Payload validation: refuse a received frame BEFORE anything is decoded or allocated.

The cloud accepts frames from many robots over the network, so the header fields of an
EncodedFrame (codec, sizes, byte count) are untrusted. Everything here is cheap (integer checks,
a JPEG header parse, a scan for Annex B start codes) and raises PayloadError with a short
reason, so a bad frame costs microseconds and never reaches a decoder with absurd dimensions.

What this does NOT catch: a well-formed bitstream whose content is corrupt. The decoders
handle that (see ``h264.py`` and ``jpeg.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import simplejpeg

from cloudseg_ros.errors import PayloadError

#: Codec strings of ``EncodedFrame.codec``.
CODECS: tuple[str, ...] = ("h264", "h265", "jpeg")

_START_CODE = b"\x00\x00\x01"


@dataclass(frozen=True)
class PayloadLimits:
    """Largest frame the cloud will accept. Encoded and camera (original) sizes are bounded
    separately: the cloud allocates original-size buffers for super-resolution and masks."""

    max_width: int = 4096
    max_height: int = 4096
    max_bytes: int = 8_000_000
    codecs: tuple[str, ...] = CODECS
    max_original_width: int = 8192
    max_original_height: int = 8192

    @classmethod
    def camera(cls, max_width: int, max_height: int, max_bytes: int) -> PayloadLimits:
        """Limits where one size bounds both the encoded frame and the camera it came from
        (the cloud node's ``max_width``/``max_height``): the camera size is what the cloud
        allocates for, so a tiny frame claiming a huge camera is refused too."""
        return cls(max_width=max_width, max_height=max_height, max_bytes=max_bytes,
                   max_original_width=max_width, max_original_height=max_height)  # fmt: skip


def validate_encoded(codec: str, width: int, height: int, data_len: int, limits: PayloadLimits) -> None:
    """The checks on the encoded frame alone (what a decoder can check by itself)."""
    if codec not in limits.codecs:
        raise PayloadError(f"unknown codec {codec!r}; accepted: {', '.join(limits.codecs)}")
    if not (0 < width <= limits.max_width and 0 < height <= limits.max_height):
        raise PayloadError(f"frame size {width}x{height} outside 1x1..{limits.max_width}x{limits.max_height}")
    if data_len <= 0:
        raise PayloadError("empty payload")
    if data_len > limits.max_bytes:
        raise PayloadError(f"payload of {data_len} bytes over the limit of {limits.max_bytes}")


MAX_DOWNSCALE = 16  # the edge's largest downscale factor, per side


def validate_frame_header(
    codec: str,
    width: int,
    height: int,
    data_len: int,
    original_width: int,
    original_height: int,
    limits: PayloadLimits | None = None,
) -> None:
    """Check an EncodedFrame's header fields; raise PayloadError on the first bad one.

    Call it on the message fields before touching ``data``. The robot only ever downscales,
    so an original (camera) size smaller than the encoded size is malformed.
    """
    limits = limits or PayloadLimits()
    validate_encoded(codec, width, height, data_len, limits)
    if not (
        0 < original_width <= limits.max_original_width and 0 < original_height <= limits.max_original_height
    ):
        raise PayloadError(
            f"original size {original_width}x{original_height} outside "
            f"1x1..{limits.max_original_width}x{limits.max_original_height}"
        )
    if original_width < width or original_height < height:
        raise PayloadError(
            f"original size {original_width}x{original_height} smaller than encoded {width}x{height}"
        )
    # The edge downscales by MAX_DOWNSCALE at most (floor, then even): a bigger claim would
    # make the cloud segment a camera-sized frame from a thumbnail, and every other robot wait.
    if original_width >= MAX_DOWNSCALE * (width + 2) or original_height >= MAX_DOWNSCALE * (height + 2):
        raise PayloadError(
            f"original size {original_width}x{original_height} over {MAX_DOWNSCALE}x the encoded {width}x{height}"
        )


def jpeg_header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's header, without decoding it; PayloadError if unreadable."""
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise PayloadError(f"not a readable JPEG ({exc})") from None
    return int(width), int(height)


def nal_unit_types(codec: str, data: bytes) -> Iterator[int]:
    """NAL unit types of an Annex B H.264/H.265 payload, in order.

    Relies on start codes (00 00 01) never occurring inside a NAL unit, which emulation
    prevention guarantees for valid streams; for garbage the types are meaningless but the scan
    is still bounded by the payload length.
    """
    h265 = codec == "h265"
    i = data.find(_START_CODE)
    while i != -1 and i + 3 < len(data):
        header = data[i + 3]
        yield (header >> 1) & 0x3F if h265 else header & 0x1F
        i = data.find(_START_CODE, i + 3)


def annexb_key_frame(codec: str, data: bytes) -> bool:
    """Is this Annex B packet a random-access picture? PayloadError if it is not Annex B.

    Decided by the first picture (VCL) NAL unit: H.264 IDR (type 5); H.265 IRAP (BLA, IDR, CRA:
    types 16-21). Parameter sets and SEI before it are skipped; the scan stops at it, so the
    cost is a few ``bytes.find`` calls whatever the payload size.
    """
    if not (data.startswith(_START_CODE) or data.startswith(b"\x00" + _START_CODE)):
        raise PayloadError(f"{codec} payload does not start with an Annex B start code")
    for nal in nal_unit_types(codec, data):
        if codec == "h265":
            if nal < 32:  # VCL
                return 16 <= nal <= 21
        elif 1 <= nal <= 5:  # VCL
            return nal == 5
    raise PayloadError(f"{codec} payload holds no picture")


def validate_payload(codec: str, data: bytes, width: int, height: int) -> bool:
    """Cheap bitstream check before decoding; returns whether the packet is a key frame.

    JPEG: the header's size must equal the claimed size (every JPEG is a key frame).
    H.264/H.265: Annex B framing with a picture in it (the decoded size is checked after
    decoding, and the decoder is capped at the claimed size, see ``h264.py``).
    """
    if codec == "jpeg":
        real = jpeg_header_size(data)
        if real != (width, height):
            raise PayloadError(f"JPEG is {real[0]}x{real[1]}, header claims {width}x{height}")
        return True
    if codec in ("h264", "h265"):
        return annexb_key_frame(codec, data)
    raise PayloadError(f"unknown codec {codec!r}")
