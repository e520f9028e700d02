"""H.264 (libx264) and H.265 (libx265) through PyAV: one implementation, two flavours.

Encoder settings and why:

- ``tune=zerolatency``: no B-frames, no lookahead, sliced threads -- the packet for a frame comes
  out of the same ``encode()`` call. H.264 adds ``psnr`` (no psycho-visual tuning: the
  consumer is a segmenter, not an eye). Checked on every frame (one frame in, one packet out).
- Rate control ABR with VBV ``maxrate = bitrate`` and ``bufsize = bitrate / 2``: no frame may
  burst more than half a second of link time, which bounds the queueing delay it can cause.
- ``keyint = gop`` with scene-cut detection off: key frames only at the GOP boundary or when the
  caller forces one. ``forced-idr`` makes a forced key frame a real IDR (H.265 also needs
  ``open-gop=0``, else its key frames are CRA pictures), so the cloud can resume on it with a
  fresh decoder.
- Colour: frames are converted RGB -> yuv444p (``chroma="yuv444"``, High 4:4:4 profile) or
  yuv420p (area-averaged chroma) by swscale (BT.601, limited range) and the stream is tagged
  so; the decoder converts back with the same matrix. See ``base.CHROMA_MODES`` for why 4:4:4
  at the robot's small sizes.

Bitrate changes (``set_bitrate``) restart the encoder, and its next frame is an IDR:

- FFmpeg's libx264 wrapper does pass a new ``bit_rate`` to a running x264, but x264's ABR then
  pays back the whole stream's average, and PyAV cannot change the VBV fields (``rc_max_rate``,
  ``rc_buffer_size``) of an open encoder: measured, a 20x lower target on a busy stream moved the
  packet sizes by less than 10% over 15 frames. A controller stepping down on a congested link
  needs the new rate at once, so the encoder is reopened with the new rate and VBV; the one IDR
  this costs is capped by the new VBV like any other frame.
- FFmpeg's libx265 wrapper never reconfigures a running encoder at all.

Decoder: FFmpeg's native decoders on a PyAV CodecContext with ONE thread. Frame threading holds
frames back (1-2 frames of lag); slice threading does not, but it disables H.264 error
concealment bookkeeping, so a frame with concealed errors would not be flagged. Frames are small
(the robot sends 1/16 of the camera's pixels), so one thread is fast enough (see bench/edge.py).

Detecting damaged packets (a damaged picture would be segmented as if it were real):

- H.264: ``err_detect=explode`` turns many slice errors into decode errors, and a frame the
  decoder had to conceal is flagged corrupt; both are rejected. Bit flips that still parse are
  not detectable (x264 has no picture checksum).
- H.265: FFmpeg's HEVC decoder flags nothing and decodes a truncated slice silently. So the
  encoder writes a decoded-picture-hash SEI (MD5, ~57 bytes per frame, x265 ``hash=1``) after
  every picture; the decoder verifies it (``err_detect=crccheck``) and refuses packets that do
  not end with it. H.265 streams from other encoders, without the hash, are therefore refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from cloudseg_ros.codec.base import DEFAULT_CHROMA, Decoder, EncodedPacket, Encoder, check_chroma, check_rgb
from cloudseg_ros.codec.limits import PayloadLimits, annexb_key_frame, nal_unit_types
from cloudseg_ros.errors import ConfigError, PayloadError

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
MAX_BITRATE_KBPS = 1_000_000
PIX_FMT = {"yuv420": "yuv420p", "yuv444": "yuv444p"}  # chroma sampling -> the encoder's pixel format
_AVCOL_SPC_SMPTE170M = 6  # AVColorSpace value for the BT.601 matrix (what swscale uses by default)


@dataclass(frozen=True)
class Flavour:
    """What differs between the H.264 and H.265 paths."""

    codec: str  # EncodedFrame.codec
    encoder: str  # FFmpeg encoder
    decoder: str  # FFmpeg decoder
    params_option: str  # the encoder's private option for library parameters
    params: str
    picture_hash: bool  # does every packet end with a decoded-picture-hash SEI the decoder checks?
    tune: str = "zerolatency"


# x264 takes zerolatency plus one psycho-visual tune: "psnr" turns off the psycho-visual
# optimisations that spend bits on detail a person notices but a segmenter does not
# (measured on the embedded scene at 512x256: +0.6 to +0.8 dB PSNR at the same size).
# x265 takes a single tune.
H264 = Flavour(
    "h264", "libx264", "h264", "x264-params", "scenecut=0", picture_hash=False, tune="zerolatency,psnr"
)
H265 = Flavour(
    "h265",
    "libx265",
    "hevc",
    "x265-params",
    "log-level=error:scenecut=0:open-gop=0:hash=1",
    picture_hash=True,
)
_SUFFIX_SEI_H265 = 40  # NAL unit type that carries the picture hash


def check_bitrate(kbps: int) -> int:
    if not 1 <= kbps <= MAX_BITRATE_KBPS:
        raise ConfigError(f"bitrate_kbps must be in 1..{MAX_BITRATE_KBPS}, got {kbps}")
    return int(kbps)


class PyAVEncoder(Encoder):
    """Encodes RGB frames into Annex B H.264/H.265 packets, exactly one per frame."""

    rate_control = "bitrate"

    def __init__(
        self,
        flavour: Flavour,
        width: int,
        height: int,
        fps: float = 10.0,
        bitrate_kbps: int = 500,
        gop: int = 60,
        preset: str = "veryfast",
        chroma: str = DEFAULT_CHROMA,
    ) -> None:
        check_chroma(chroma)
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ConfigError(
                f"{flavour.codec} needs an even width and height (yuv420p), got {width}x{height}; "
                "round the size with cloudseg_ros.imaging.even_size"
            )
        if not 0 < fps <= 1000:
            raise ConfigError(f"fps must be in (0, 1000], got {fps}")
        if gop < 1:
            raise ConfigError(f"gop must be >= 1, got {gop}")
        if preset not in PRESETS:
            raise ConfigError(f"preset {preset!r} unknown; must be one of: {', '.join(PRESETS)}")
        super().__init__(width, height)
        self.codec = flavour.codec
        self.gop = gop
        self.preset = preset
        self.chroma = chroma
        self._pix_fmt = PIX_FMT[chroma]
        # Constant frame rate time base: pts counts frames, so rate control sees bitrate / fps bits
        # per frame whatever the wall clock does.
        self._rate = Fraction(fps).limit_denominator(1001)
        self._flavour = flavour
        self._bitrate_kbps = check_bitrate(bitrate_kbps)
        self._reformatter = VideoReformatter()
        self._pts = 0
        self._since_key = 0
        self._restart_pending = False
        self.restarts = 0  # encoder reopened for a bitrate change (each time with an IDR)
        self._ctx = self._open()

    @property
    def bitrate_kbps(self) -> int:
        return self._bitrate_kbps

    def _open(self) -> av.VideoCodecContext:
        """Open a fresh encoder at the current bitrate; its first frame will be an IDR."""
        kbps = self._bitrate_kbps
        ctx = av.CodecContext.create(self._flavour.encoder, "w")
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = self._pix_fmt
        ctx.framerate = self._rate
        ctx.time_base = 1 / self._rate
        ctx.gop_size = self.gop
        ctx.max_b_frames = 0
        ctx.bit_rate = kbps * 1000
        ctx.colorspace = _AVCOL_SPC_SMPTE170M
        ctx.color_range = ColorRange.MPEG
        # maxrate/bufsize as AVCodecContext options, not library params: the wrapper compares
        # those fields on every frame and would otherwise reset the VBV to "off".
        ctx.options = {
            "preset": self.preset,
            "tune": self._flavour.tune,
            "forced-idr": "1",
            "maxrate": str(kbps * 1000),
            "bufsize": str(kbps * 500),
            self._flavour.params_option: self._flavour.params,
        }
        try:
            ctx.open()
        except av.FFmpegError as exc:
            raise ConfigError(
                f"{self._flavour.encoder} refused {self.width}x{self.height} at {float(self._rate):g} fps, "
                f"{kbps} kbps, preset {self.preset}: {exc}"
            ) from None
        if ctx.options:  # an option the encoder did not consume: a silent misconfiguration
            raise ConfigError(f"{self._flavour.encoder} ignored options {ctx.options}")
        self._since_key = -1  # the first frame of a fresh encoder is a key frame
        self._restart_pending = False
        return ctx

    def set_bitrate(self, kbps: int) -> None:
        """New target for the next frame; see the module docstring for when it restarts (IDR)."""
        kbps = check_bitrate(kbps)
        if kbps == self._bitrate_kbps:
            return
        self._bitrate_kbps = kbps
        self._restart_pending = True

    def encode(self, rgb: np.ndarray, force_key: bool = False) -> EncodedPacket:
        self._check_open()
        rgb = check_rgb(rgb, self.width, self.height)
        key = force_key or self._restart_pending or self._since_key < 0 or self._since_key + 1 >= self.gop
        if self._restart_pending:
            self._ctx = self._open()
            self.restarts += 1
        frame = self._reformatter.reformat(
            av.VideoFrame.from_ndarray(rgb, format="rgb24"),
            format=self._pix_fmt,
            interpolation=Interpolation.AREA,
        )
        frame.pts = self._pts
        self._pts += 1
        if key:
            frame.pict_type = PictureType.I
        packets = self._ctx.encode(frame)
        if len(packets) != 1:
            raise RuntimeError(f"{self._flavour.encoder} returned {len(packets)} packets for one frame")
        data = bytes(packets[0])
        is_key = annexb_key_frame(self.codec, data)
        if key and not is_key:
            raise RuntimeError(f"{self._flavour.encoder} did not make the requested key frame an IDR")
        self._since_key = 0 if is_key else self._since_key + 1
        return EncodedPacket(data, is_key, self.codec, self.width, self.height)

    def close(self) -> None:
        self._ctx = None  # nothing is buffered (zerolatency), so there is nothing to flush
        super().close()


class PyAVDecoder(Decoder):
    """Decodes one robot's H.264/H.265 stream; one packet in, its frame out, same call."""

    def __init__(self, flavour: Flavour, limits: PayloadLimits | None = None) -> None:
        super().__init__(limits)
        self.codec = flavour.codec
        self._flavour = flavour
        self._ctx: av.VideoCodecContext | None = None
        self._size = (0, 0)

    def _context(self, width: int, height: int) -> av.VideoCodecContext:
        """The decoder for this claimed size, created on first use or when the size changes.

        ``max_pixels`` caps what a bitstream may make FFmpeg allocate at the claimed size
        (rounded up to whole 64-pixel blocks): a packet whose parameter sets claim more fails
        before any large allocation.
        """
        if self._ctx is None or self._size != (width, height):
            ctx = av.CodecContext.create(self._flavour.decoder, "r")
            ctx.thread_type = "SLICE"
            ctx.thread_count = 1
            ctx.options = {
                "max_pixels": str(-(-width // 64) * 64 * (-(-height // 64) * 64)),
                # Fail on bitstream errors instead of concealing them; check picture hashes.
                "err_detect": "crccheck+explode",
            }
            ctx.open()
            self._ctx, self._size = ctx, (width, height)
        return self._ctx

    def _decode(self, data: bytes, width: int, height: int) -> np.ndarray:
        if self._flavour.picture_hash and [*nal_unit_types(self.codec, data)][-1] != _SUFFIX_SEI_H265:
            # The hash SEI comes last: a packet cut anywhere before it loses it, and the cut
            # picture would decode without complaint.
            raise PayloadError(f"{self.codec} packet has no picture hash at its end (truncated?)")
        ctx = self._context(width, height)
        try:
            frames = ctx.decode(av.Packet(data))
        except av.FFmpegError as exc:
            raise PayloadError(
                f"undecodable {self.codec} packet ({getattr(exc, 'strerror', None) or exc})"
            ) from None
        if len(frames) != 1:
            raise PayloadError(f"{self.codec} packet gave {len(frames)} frames, expected 1")
        frame = frames[0]
        if frame.is_corrupt:
            raise PayloadError(f"{self.codec} packet has bitstream errors")
        if (frame.width, frame.height) != (width, height):
            raise PayloadError(f"decoded {frame.width}x{frame.height}, header claims {width}x{height}")
        if frame.format.name == "yuv420p" and frame.color_range != ColorRange.JPEG:
            return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
        return frame.to_ndarray(format="rgb24")  # a foreign stream: let swscale convert

    def _drop_state(self) -> None:
        # A new context is ~20 us; it guarantees no reference frame or parameter set survives.
        self._ctx = None
