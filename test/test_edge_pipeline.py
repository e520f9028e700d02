"""The robot's send path with real encoders: credit, IDR requests, live knobs, restarts.

Verifies: frames are not encoded while the window is full; an IDR request is answered
by the next sent frame (and ignored when it concerns frames older than the last key);
bitrate changes apply to the running stream; a size or codec change starts a new
stream whose first frame is a key frame that a fresh decoder can decode; fps cap.
Frame-selection quality is measured in bench/selector.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.codec import make_decoder
from cloudseg_ros.edge.pipeline import EdgeKnobs, EdgePipeline


def frames(n: int, h: int = 128, w: int = 256, noise: int = 0) -> list[np.ndarray]:
    """A blocky texture panning sideways, plus fresh sensor noise per frame if asked."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (h, w * 2, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base[::8, ::8], 8, 0), 8, 1)[:h]
    out = []
    for i in range(n):
        f = base[:, i * 4 : i * 4 + w].astype(np.int16)
        if noise:
            f += rng.integers(-noise, noise + 1, f.shape, dtype=np.int16)
        out.append(np.ascontiguousarray(np.clip(f, 0, 255).astype(np.uint8)))
    return out


def make(max_in_flight: int = 0, **knobs) -> EdgePipeline:
    return EdgePipeline(EdgeKnobs(downscale=2, **knobs), InFlightWindow(max_in_flight, 10.0), fps=10.0)


def test_every_frame_sent_and_decodable() -> None:
    edge = make()
    dec = make_decoder("h264")
    for i, f in enumerate(frames(12)):
        sent, why = edge.process(f, i * 0.1)
        assert why == "sent"
        out = dec.decode(sent.packet.data, sent.width, sent.height)
        assert out.shape == (64, 128, 3)
        assert sent.seq == i + 1
    assert edge.stats.key_frames == 1  # only the stream start


def test_window_gates_before_encoding() -> None:
    edge = make(max_in_flight=2)
    fs = frames(6)
    results = [edge.process(f, i * 0.1)[1] for i, f in enumerate(fs[:4])]
    assert results == ["sent", "sent", "in_flight", "in_flight"]
    assert edge.stats.sent == 2 and edge.stats.skipped["in_flight"] == 2
    edge.acknowledge(2)
    assert edge.process(fs[4], 0.4)[1] == "sent"


def test_idr_request_answered_once() -> None:
    edge = make()
    fs = frames(8)
    for i in range(3):
        edge.process(fs[i], i * 0.1)
    edge.request_key(about_seq=3)
    sent, _ = edge.process(fs[3], 0.3)
    assert sent.packet.key_frame
    fresh = make_decoder("h264")
    assert fresh.decode(sent.packet.data, sent.width, sent.height).shape == (64, 128, 3)
    edge.request_key(about_seq=3)  # stale request: the key frame (seq 4) already went out
    assert not edge.process(fs[4], 0.4)[0].packet.key_frame


def test_bitrate_change_applies_to_running_stream() -> None:
    edge = make(bitrate_kbps=2000, gop=1000)
    fs = frames(40, noise=40)  # noise keeps the encoder at its rate limit
    high = [len(edge.process(f, i * 0.1)[0].packet.data) for i, f in enumerate(fs[:20])]
    edge.update(bitrate_kbps=100)
    low = [len(edge.process(f, 2 + i * 0.1)[0].packet.data) for i, f in enumerate(fs[20:])]
    assert edge.stream_id == 0  # no restart
    assert np.mean(low[5:]) < 0.6 * np.mean(high[5:])


@pytest.mark.parametrize("change", [{"downscale": 4}, {"codec": "jpeg"}])
def test_size_or_codec_change_restarts_stream_with_key(change) -> None:
    edge = make()
    fs = frames(6)
    for i in range(3):
        edge.process(fs[i], i * 0.1)
    edge.update(**change)
    sent, _ = edge.process(fs[3], 0.3)
    assert sent.stream_id == 1 and sent.packet.key_frame
    fresh = make_decoder(sent.packet.codec)
    assert fresh.decode(sent.packet.data, sent.width, sent.height).shape == (sent.height, sent.width, 3)


def test_fps_cap_and_bad_knobs() -> None:
    edge = make(fps_cap=5.0)
    fs = frames(6)
    results = [edge.process(f, i * 0.1)[1] for i, f in enumerate(fs)]
    assert results == ["sent", "fps_cap", "sent", "fps_cap", "sent", "fps_cap"]
    with pytest.raises(ValueError):
        edge.update(codec="vp9")
    with pytest.raises(ValueError):
        edge.update(key_threshold=0.1, useful_threshold=0.5)
    assert edge.knobs.codec == "h264"
