"""Frame codecs without ROS: H.264 / H.265 (PyAV) and JPEG (simplejpeg), plus payload limits.

The robot's edge node encodes with :func:`make_encoder`; the cloud keeps one
:func:`make_decoder` per robot and checks every received header with
:func:`validate_frame_header` first.
"""

from cloudseg_ros.codec.base import (
    CHROMA_MODES,
    DEFAULT_CHROMA,
    WAITING_FOR_KEY,
    Decoder,
    EncodedPacket,
    Encoder,
    check_chroma,
)
from cloudseg_ros.codec.limits import (
    CODECS,
    PayloadLimits,
    jpeg_header_size,
    validate_frame_header,
    validate_payload,
)
from cloudseg_ros.codec.registry import make_decoder, make_encoder

__all__ = [
    "CHROMA_MODES",
    "CODECS",
    "DEFAULT_CHROMA",
    "WAITING_FOR_KEY",
    "Decoder",
    "EncodedPacket",
    "Encoder",
    "PayloadLimits",
    "check_chroma",
    "jpeg_header_size",
    "make_decoder",
    "make_encoder",
    "validate_frame_header",
    "validate_payload",
]
