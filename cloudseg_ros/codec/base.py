"""What every codec provides: the packet type and the encoder/decoder contracts.

The contracts exist because the robot and the cloud are latency-bound and lossy:

- An encoder turns ONE frame into ONE packet in the same call and keeps no frame back, so the
  robot never waits for a later frame to send an earlier one (the 1-2 frame lag users of
  ffmpeg_image_transport report is exactly what this rules out).
- A decoder turns ONE packet into ONE frame in the same call, and refuses to guess: after any
  rejected or lost packet it waits for a key frame rather than showing a smeared picture,
  because the cloud segments what it decodes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cloudseg_ros.codec.limits import PayloadLimits, validate_encoded, validate_payload
from cloudseg_ros.errors import PayloadError

RateControl = Literal["bitrate", "quality"]
Bytes = bytes | bytearray | memoryview


# The refusal of an inter frame while the decoder has no reference: after a start, a gap or an
# error. Callers tell it apart from real errors (it is the normal way back to sync).
WAITING_FOR_KEY = "waiting for key frame"

# Chroma sampling of the sent frame: "yuv420" halves the colour planes per side, as most video
# does; "yuv444" keeps them whole. At the robot's x4 downscale the colour planes of 4:2:0 are
# 1/8 of the camera's per side, and small coloured objects (traffic lights, signs) lose their
# colour: measured on held-out scene frames, the yuv420 round trip alone, without any
# compression, costs the cloud 0.034 mIoU, and at 50-800 kbit/s H.264 4:4:4 gives 0.03-0.05
# more mIoU than 4:2:0 at the same measured bitrate (README, "Chroma").
CHROMA_MODES = ("yuv420", "yuv444")
DEFAULT_CHROMA = "yuv444"


def check_chroma(chroma: str) -> str:
    from cloudseg_ros.errors import ConfigError

    if chroma not in CHROMA_MODES:
        raise ConfigError(f"chroma {chroma!r} unknown; must be one of: {', '.join(CHROMA_MODES)}")
    return chroma


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded frame, ready for ``cloudseg_ros/msg/EncodedFrame`` (same field names).

    ``key_frame`` means the packet decodes without any earlier packet (an H.264 IDR, an H.265
    IRAP picture, every JPEG): the cloud can start or resume a stream on it.
    """

    data: bytes
    key_frame: bool
    codec: str
    width: int
    height: int


def check_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return ``rgb`` as a C-contiguous (height, width, 3) uint8 array, or raise ValueError.

    A wrong size is a caller bug (the encoder is configured for one size; a new size needs a new
    encoder and a new stream), so it fails loudly rather than being resized here.
    """
    if rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
        raise ValueError(
            f"encoder expects a ({height}, {width}, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}"
        )
    return np.ascontiguousarray(rgb)


class Encoder(ABC):
    """Encodes RGB frames of one fixed size into a stream of self-delimited packets.

    Not thread-safe: one encoder per stream, used from one thread. Usable as a context manager.
    """

    codec: str
    #: which knob changes the size of this codec's packets: set_bitrate or set_quality
    rate_control: RateControl

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._closed = False

    @abstractmethod
    def encode(self, rgb: np.ndarray, force_key: bool = False) -> EncodedPacket:
        """Encode one (height, width, 3) uint8 RGB frame; ``force_key`` makes it a key frame."""

    def set_bitrate(self, kbps: int) -> None:  # noqa: B027 - optional knob, no-op by default
        """Target bitrate for the following frames. Codecs without rate control ignore it."""

    def set_quality(self, quality: int) -> None:  # noqa: B027 - optional knob, no-op by default
        """Quality for the following frames. Codecs controlled by bitrate ignore it."""

    def close(self) -> None:
        """Release the codec. Encoding afterwards raises RuntimeError."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.codec} encoder is closed")

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Decoder(ABC):
    """Decodes one robot's packets back to RGB; holds that stream's state on the cloud.

    The key-frame bookkeeping lives here so every codec follows the same rules:
    ``needs_key_frame`` is True at start, after :meth:`reset` (the caller saw a sequence gap) and
    after any packet this decoder rejected, because a rejected packet is a lost packet and
    whatever references it would decode wrong. Non-key packets are refused while it is True.
    """

    codec: str

    def __init__(self, limits: PayloadLimits | None = None) -> None:
        self.limits = limits or PayloadLimits()
        self._needs_key = True

    @property
    def needs_key_frame(self) -> bool:
        return self._needs_key

    def reset(self) -> None:
        """Forget the stream: the next packet must be a key frame."""
        self._needs_key = True
        self._drop_state()

    def decode(self, data: Bytes, width: int, height: int) -> np.ndarray:
        """Decode one packet claimed to be ``width`` x ``height``; return (height, width, 3) uint8 RGB.

        Raises PayloadError (short reason) for anything malformed, oversized, undecodable, of
        the wrong size, or a non-key packet while waiting for a key frame. The decoder stays
        usable after an error.
        """
        try:
            validate_encoded(self.codec, width, height, len(data), self.limits)
            if not isinstance(data, bytes):
                data = bytes(data)
            key = validate_payload(self.codec, data, width, height)
            if self._needs_key and not key:
                raise PayloadError(WAITING_FOR_KEY)
            rgb = self._decode(data, width, height)
            if rgb.shape != (height, width, 3):
                raise PayloadError(f"decoded {rgb.shape[1]}x{rgb.shape[0]}, header claims {width}x{height}")
        except PayloadError:
            self.reset()
            raise
        if key:
            self._needs_key = False
        return rgb

    def close(self) -> None:
        """Release codec resources; the decoder may be used again (it starts over)."""
        self.reset()

    @abstractmethod
    def _decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        """Decode for real; convert every backend failure to PayloadError."""

    def _drop_state(self) -> None:  # noqa: B027 - stateless codecs need nothing
        """Throw away reference frames so the next key frame starts clean."""
