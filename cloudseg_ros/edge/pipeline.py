"""The robot's send path: select, downscale, encode — with every knob live.

Order matters for a weak uplink: the cheap decisions come first (frame rate cap,
selection, credit for another frame in flight), so a frame that will not be sent
costs a thumbnail, never an encode; and nothing is dropped after encoding, where a
hole would break the H.264 stream. A change of size or codec restarts the encoder
and the stream (new ``stream_id``, first frame IDR), so the cloud's decoder follows
without a garbage frame; bitrate and quality changes apply to the next frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.codec import CODECS, EncodedPacket, make_encoder
from cloudseg_ros.imaging.resize import downscale, downscaled_size
from cloudseg_ros.selector import Decision, FrameSelector, Selection


@dataclass(frozen=True)
class EdgeKnobs:
    """Everything a controller or a person may retune while frames flow."""

    downscale: int = 4
    codec: str = "h264"
    bitrate_kbps: int = 600
    jpeg_quality: int = 80
    gop: int = 100  # frames between forced IDRs of the codec
    preset: str = "veryfast"
    fps_cap: float = 0.0  # max frames sent per second; 0 = every selected frame
    key_threshold: float = 0.0
    useful_threshold: float = 0.0
    max_key_interval: int = 30

    def validate(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec {self.codec!r}: must be one of {', '.join(CODECS)}")
        if self.downscale < 1 or self.bitrate_kbps < 1 or not 1 <= self.jpeg_quality <= 100 or self.gop < 1:
            raise ValueError(f"knob out of range: {self}")


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
    encode_ms: float


@dataclass
class EdgeStats:
    frames_in: int = 0
    sent: int = 0
    bytes_sent: int = 0
    key_frames: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: {"selector": 0, "fps_cap": 0, "in_flight": 0})
    restarts: int = 0


class EdgePipeline:
    """Turns camera frames into uplink packets under the current knobs."""

    def __init__(self, knobs: EdgeKnobs, window: InFlightWindow, fps: float = 10.0) -> None:
        knobs.validate()
        self.knobs = knobs
        self.window = window
        self.fps = fps
        self.selector = FrameSelector(knobs.key_threshold, knobs.useful_threshold, knobs.max_key_interval)
        self.stats = EdgeStats()
        self._encoder: Any = None
        self._encoder_key: tuple | None = None
        self.stream_id = 0
        self.seq = 0
        self._last_sent_stamp: float | None = None
        self._idr_wanted = False
        self._last_key_seq = -1

    # ------------------------------------------------------------------ knobs
    def update(self, **changes: Any) -> None:
        """Apply knob changes from the next frame on (raises ValueError, changing nothing, if bad)."""
        knobs = replace(self.knobs, **changes)
        knobs.validate()
        self.selector.configure(knobs.key_threshold, knobs.useful_threshold, knobs.max_key_interval)
        self.knobs = knobs
        # Rate and quality retune the running encoder; codec, size, gop and preset restart it
        # (see _encoder_for) on the next frame.
        if self._encoder is not None and self._encoder_key and self._encoder_key[0] == knobs.codec:
            if knobs.codec == "jpeg" and "jpeg_quality" in changes:
                self._encoder.set_quality(knobs.jpeg_quality)
            elif knobs.codec != "jpeg" and "bitrate_kbps" in changes:
                self._encoder.set_bitrate(knobs.bitrate_kbps)

    def request_key(self, about_seq: int | None = None) -> None:
        """The cloud lost sync at ``about_seq``: send an IDR next, unless one went out since."""
        if about_seq is None or about_seq >= self._last_key_seq:
            self._idr_wanted = True

    def acknowledge(self, last_seq: int) -> None:
        self.window.acknowledge(last_seq)

    # ------------------------------------------------------------------ frames
    def process(self, rgb: np.ndarray, stamp_s: float) -> tuple[Sent | None, str]:
        """One camera frame in; the packet to send (or None) and why."""
        self.stats.frames_in += 1
        k = self.knobs
        if (
            k.fps_cap > 0
            and self._last_sent_stamp is not None
            and stamp_s - self._last_sent_stamp < 0.999 / k.fps_cap
        ):
            self.stats.skipped["fps_cap"] += 1
            return None, "fps_cap"
        if not self.window.has_room():
            # Checked before selection so that the selector's reference stays the last frame SENT.
            self.stats.skipped["in_flight"] += 1
            return None, "in_flight"
        if self._idr_wanted:
            self.selector.force_key()
        decision = self.selector.select(rgb)
        if decision.selection == Selection.SKIP:
            self.stats.skipped["selector"] += 1
            return None, "selector"
        t0 = time.perf_counter()
        h, w = rgb.shape[:2]
        lr = downscale(rgb, k.downscale)
        encoder = self._encoder_for(lr.shape[1], lr.shape[0])
        force_key = self._idr_wanted
        packet = encoder.encode(np.ascontiguousarray(lr), force_key=force_key)
        encode_ms = (time.perf_counter() - t0) * 1e3
        self.seq += 1
        if packet.key_frame:
            self._last_key_seq = self.seq
            self._idr_wanted = False
            self.stats.key_frames += 1
        self._last_sent_stamp = stamp_s
        self.window.sent(self.seq)
        self.stats.sent += 1
        self.stats.bytes_sent += len(packet.data)
        sent = Sent(packet, self.seq, self.stream_id, decision, lr.shape[1], lr.shape[0], w, h, encode_ms)
        return sent, "sent"

    def lr_size(self, width: int, height: int) -> tuple[int, int]:
        return downscaled_size(width, height, self.knobs.downscale)

    def _encoder_for(self, width: int, height: int) -> Any:
        k = self.knobs
        key = (k.codec, width, height, k.gop, k.preset)
        if key != self._encoder_key:
            if self._encoder is not None:
                self._encoder.close()
                self.stream_id += 1
                self.stats.restarts += 1
            self._encoder = make_encoder(
                k.codec,
                width=width,
                height=height,
                fps=self.fps,
                bitrate_kbps=k.bitrate_kbps,
                gop=k.gop,
                preset=k.preset,
                jpeg_quality=k.jpeg_quality,
            )
            self._encoder_key = key
            self._idr_wanted = True  # a new stream starts with a key frame (the encoder does so too)
        return self._encoder

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
