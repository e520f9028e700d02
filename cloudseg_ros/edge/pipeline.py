"""The robot's send path: select, downscale, encode — with every knob live.

Order matters for a weak uplink: the cheap decisions come first (frame rate cap,
credit for another frame in flight, selection on a thumbnail), so a frame that will
not be sent costs a fraction of a millisecond, never a downscale or an encode; and
nothing is dropped after encoding, where a hole would break the H.264 stream. A change
of size, codec, chroma or send rate restarts the encoder and the stream (new ``stream_id``,
first frame IDR), so the cloud's decoder follows without a garbage frame; bitrate and
quality changes apply to the next frame.

What ``bitrate_kbps`` means: the uplink rate while the robot sends every frame the frame
rate cap lets through. x264's rate control gives each frame ``bitrate / fps`` of its time
base, and it ignores real timestamps in zero-latency mode (its variable-frame-rate mode
holds one frame back, measured, which would break one-frame-in-one-packet-out). So the
encoder is opened at the send rate the cap allows, ``min(camera_fps, fps_cap)``: with a
5 Hz cap on a 10 Hz camera each frame gets twice the bits and the link still carries
``bitrate_kbps`` (its VBV, ``maxrate = bitrate``, ``bufsize = bitrate / 2``, is then in
real seconds too). Frames the SELECTOR skips are savings: the link carries
``bitrate_kbps x`` (fraction of allowed frames sent), which is how skipping saves uplink.
bench/selector.py and test_edge_pipeline.py measure both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.codec import CHROMA_MODES, CODECS, DEFAULT_CHROMA, EncodedPacket, make_encoder
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.imaging.resize import downscale, downscaled_size
from cloudseg_ros.selector import Decision, FrameSelector, Selection


@dataclass(frozen=True)
class EdgeKnobs:
    """Everything a controller or a person may retune while frames flow.

    Selector defaults: chosen with bench/selector.py on scene seeds 0-2 and checked on 500-502
    (see README "Frame selection" and cloudseg_ros/selector/frame_selector.py). A frame is
    sent once its staleness (what motion does not explain since the last frame sent, summed
    over the frames skipped since) reaches ``useful_threshold``: a still robot (staleness 0)
    sends one frame per ``max_key_interval``, a robot moving at 7-12 m/s (the scene's speed
    by seed) about every other frame, the mask node propagating the last mask to the frames
    between (about half the frames for ~0.01 mIoU, measured). ``key_threshold`` equal to it
    makes nearly every frame a moving robot sends a KEY: the cloud's reuse of an older KEY's
    deep features (USEFUL) cost more mIoU than a frame's propagation (0.0154 against 0.0115 at
    a 0.3 key threshold, seeds 0-2).
    """

    downscale: int = 4
    codec: str = "h264"
    bitrate_kbps: int = 600  # uplink rate while sending every frame the fps cap allows
    jpeg_quality: int = 80
    gop: int = 100  # encoded frames between periodic IDRs of the codec
    preset: str = "veryfast"
    chroma: str = DEFAULT_CHROMA  # colour planes kept whole: see codec.base.CHROMA_MODES
    fps_cap: float = 0.0  # max frames sent per second; 0 = every selected frame
    key_threshold: float = 0.1
    useful_threshold: float = 0.1
    max_key_interval: int = 30  # frames the selector examined (past the fps cap and the credit)

    def validate(self) -> None:
        """Raise ValueError naming the first bad knob (the node's descriptors say the same)."""
        if self.codec not in CODECS:
            raise ValueError(f"codec {self.codec!r}: must be one of {', '.join(CODECS)}")
        if self.chroma not in CHROMA_MODES:
            raise ValueError(f"chroma {self.chroma!r}: must be one of {', '.join(CHROMA_MODES)}")
        checks = (
            ("downscale", self.downscale >= 1),
            ("bitrate_kbps", self.bitrate_kbps >= 1),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100),
            ("gop", self.gop >= 1),
            ("fps_cap", self.fps_cap >= 0),
            ("max_key_interval", self.max_key_interval >= 1),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} out of range")
        for name in ("key_threshold", "useful_threshold"):  # independent of each other (selector)
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} out of range")


@dataclass
class Sent:
    """An encoded frame ready for the uplink."""

    packet: EncodedPacket
    seq: int
    stream_id: int
    decision: Decision
    width: int
    height: int
    original_width: int
    original_height: int
    encode_ms: float  # downscale + encode
    select_ms: float = 0.0


@dataclass
class EdgeStats:
    frames_in: int = 0
    sent: int = 0
    bytes_sent: int = 0
    key_frames: int = 0  # codec key frames (IDR) sent
    selected_key: int = 0  # selector KEY frames sent
    selected_useful: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: {"selector": 0, "fps_cap": 0, "in_flight": 0})
    restarts: int = 0
    idr_requests: int = 0


class EdgePipeline:
    """Turns camera frames into uplink packets under the current knobs.

    ``fps`` is the camera's nominal rate: with the frame rate cap it sets the encoder's
    time base (see the module docstring for what that does to ``bitrate_kbps``).
    """

    def __init__(self, knobs: EdgeKnobs, window: InFlightWindow, fps: float = 10.0) -> None:
        knobs.validate()
        if not fps > 0:
            raise ValueError(f"camera fps must be > 0, got {fps}")
        self.knobs = knobs
        self.window = window
        self.fps = float(fps)
        self.selector = FrameSelector(knobs.key_threshold, knobs.useful_threshold, knobs.max_key_interval)
        self.stats = EdgeStats()
        self._encoder: Any = None
        self._encoder_key: tuple | None = None
        self.stream_id = 0
        self.seq = 0
        self._next_due: float | None = None  # fps cap: earliest stamp of the next frame to send
        self._last_stamp: float | None = None
        self._idr_wanted = False
        self._last_key_seq = -1
        self.camera_size: tuple[int, int] | None = None  # (width, height) of the last frame

    # ------------------------------------------------------------------ knobs
    def check(self, **changes: Any) -> str | None:
        """Why the knobs with ``changes`` could not run on this camera, or None: the values
        themselves (ranges, choices), and an encoder that refuses the frames they would make
        (libx265 takes no side under 16 px: x16 of a 320x240 camera), tried at once on the
        last frame's size rather than found on every frame after the change."""
        knobs = replace(self.knobs, **changes)
        try:
            knobs.validate()
        except ValueError as exc:
            return str(exc)
        if self.camera_size is None or knobs.codec == "jpeg":
            return None
        lw, lh = downscaled_size(*self.camera_size, knobs.downscale)
        if self._stream_key(lw, lh, knobs) == self._encoder_key:
            return None  # the encoder runs these already
        try:
            probe = self._open_encoder(knobs, lw, lh)
        except ConfigError as exc:
            w, h = self.camera_size
            return (
                f"{knobs.codec} cannot encode {lw}x{lh} (camera {w}x{h} / downscale {knobs.downscale}): {exc}"
            )
        probe.close()
        return None

    @property
    def send_fps(self) -> float:
        """The highest rate frames may be sent at: the camera's, or the cap below it."""
        cap = self.knobs.fps_cap
        return min(self.fps, cap) if cap > 0 else self.fps

    def update(self, **changes: Any) -> None:
        """Apply knob changes from the next frame on (raises ValueError, changing nothing, if bad)."""
        knobs = replace(self.knobs, **changes)
        knobs.validate()
        self.selector.configure(knobs.key_threshold, knobs.useful_threshold, knobs.max_key_interval)
        self.knobs = knobs
        if "fps_cap" in changes:
            self._next_due = None
        # Rate and quality retune the running encoder; codec, size, send rate, gop, preset and chroma
        # restart it (see _encoder_for) on the next frame.
        if self._encoder is not None and self._encoder_key and self._encoder_key[0] == knobs.codec:
            if knobs.codec == "jpeg" and "jpeg_quality" in changes:
                self._encoder.set_quality(knobs.jpeg_quality)
            elif knobs.codec != "jpeg" and "bitrate_kbps" in changes:
                self._encoder.set_bitrate(knobs.bitrate_kbps)

    def set_camera_fps(self, fps: float) -> None:
        """The camera runs at another nominal rate; the encoder restarts on the next frame."""
        if not fps > 0:
            raise ValueError(f"camera fps must be > 0, got {fps}")
        self.fps = float(fps)

    def request_key(self, about_seq: int | None = None) -> None:
        """The cloud lost sync at ``about_seq``: send an IDR next, unless one went out since."""
        if about_seq is None or about_seq >= self._last_key_seq:
            if not self._idr_wanted:
                self.stats.idr_requests += 1
            self._idr_wanted = True

    def acknowledge(self, last_seq: int, server_s: float = 0.0) -> None:
        """The cloud has frame ``last_seq`` (and all before it); ``server_s`` its processing time."""
        self.window.acknowledge(last_seq, server_s)

    # ------------------------------------------------------------------ frames
    def process(self, rgb: np.ndarray, stamp_s: float) -> tuple[Sent | None, str]:
        """One camera frame (H, W, 3) uint8 RGB in; the packet to send (or None) and why.

        ValueError for a frame that is not (H, W, 3) uint8 (nothing changes then)."""
        if (
            rgb.ndim != 3
            or rgb.shape[2] != 3
            or rgb.dtype != np.uint8
            or rgb.shape[0] < 2
            or rgb.shape[1] < 2
        ):
            raise ValueError(f"edge expects (H>=2, W>=2, 3) uint8 RGB frames, got {rgb.shape} {rgb.dtype}")
        self.camera_size = (rgb.shape[1], rgb.shape[0])
        self.stats.frames_in += 1
        if not self._fps_cap_allows(stamp_s):
            self.stats.skipped["fps_cap"] += 1
            return None, "fps_cap"
        if not self.window.has_room():
            # Checked before selection so that the selector's reference stays the last frame SENT.
            self.stats.skipped["in_flight"] += 1
            return None, "in_flight"
        h, w = rgb.shape[:2]
        lw, lh = self.lr_size(w, h)
        if self._idr_wanted or self._stream_key(lw, lh) != self._encoder_key:
            self.selector.force_key()  # an IDR or a new stream: the cloud starts over, so a KEY
        t0 = time.perf_counter()
        decision = self.selector.select(rgb)
        t1 = time.perf_counter()
        if decision.selection == Selection.SKIP:
            self.stats.skipped["selector"] += 1
            return None, "selector"
        self._consume_fps_cap(stamp_s)
        lr = downscale(rgb, self.knobs.downscale, exact=False)  # the fast halvings (see there)
        encoder = self._encoder_for(lr.shape[1], lr.shape[0])
        force_key = self._idr_wanted
        packet = encoder.encode(np.ascontiguousarray(lr), force_key=force_key)
        encode_ms = (time.perf_counter() - t1) * 1e3
        self.seq += 1
        if packet.key_frame:
            self._last_key_seq = self.seq
            self._idr_wanted = False
            self.stats.key_frames += 1
        self.window.sent(self.seq)
        self.stats.sent += 1
        self.stats.bytes_sent += len(packet.data)
        if decision.selection == Selection.KEY:
            self.stats.selected_key += 1
        else:
            self.stats.selected_useful += 1
        sent = Sent(packet, self.seq, self.stream_id, decision, lr.shape[1], lr.shape[0], w, h, encode_ms,
                    (t1 - t0) * 1e3)  # fmt: skip
        return sent, "sent"

    def _fps_cap_allows(self, stamp_s: float) -> bool:
        """Rate cap on frames SENT, averaging ``fps_cap`` even when it does not divide the camera
        rate (a 4 Hz cap on a 10 Hz camera sends 4 frames a second, not 3.3), with at most one
        period of credit after a pause. Stamps going back (a replay that looped) reset it."""
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            self._next_due = None
        self._last_stamp = stamp_s
        if self.knobs.fps_cap <= 0 or self._next_due is None:
            return True
        return stamp_s >= self._next_due - 1e-3 / self.knobs.fps_cap

    def _consume_fps_cap(self, stamp_s: float) -> None:
        if self.knobs.fps_cap > 0:
            period = 1.0 / self.knobs.fps_cap
            due = stamp_s if self._next_due is None else self._next_due
            self._next_due = max(due, stamp_s - period) + period

    def lr_size(self, width: int, height: int) -> tuple[int, int]:
        return downscaled_size(width, height, self.knobs.downscale)

    def _stream_key(self, width: int, height: int, knobs: EdgeKnobs | None = None) -> tuple:
        """What the running encoder was opened for (or one for ``knobs`` would be); any change
        starts a new stream."""
        k = knobs or self.knobs
        rate = 0.0 if k.codec == "jpeg" else round(self.send_fps, 3)  # JPEG has no time base
        return (k.codec, width, height, k.gop, k.preset, k.chroma, rate)

    def _encoder_for(self, width: int, height: int) -> Any:
        k = self.knobs
        key = self._stream_key(width, height)
        if key != self._encoder_key:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None
                self.stream_id += 1
                self.stats.restarts += 1
            self._encoder = self._open_encoder(k, width, height)
            self._encoder_key = key
            self._idr_wanted = True  # a new stream starts with a key frame (the encoder does so too)
        return self._encoder

    def _open_encoder(self, k: EdgeKnobs, width: int, height: int) -> Any:
        return make_encoder(
            k.codec,
            width=width,
            height=height,
            fps=self.send_fps,
            bitrate_kbps=k.bitrate_kbps,
            gop=k.gop,
            preset=k.preset,
            jpeg_quality=k.jpeg_quality,
            chroma=k.chroma,
        )

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
