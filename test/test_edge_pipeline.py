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
    """An edge at x2 that sends every frame unless the test sets selector thresholds."""
    knobs = {"key_threshold": 0.0, "useful_threshold": 0.0, **knobs}
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


@pytest.mark.parametrize("change", [{"downscale": 4}, {"codec": "jpeg"}, {"chroma": "yuv420"}])
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
    with pytest.raises(ValueError, match="chroma"):
        edge.update(chroma="444")
    with pytest.raises(ValueError, match="useful_threshold"):
        edge.update(key_threshold=0.1, useful_threshold=1.5)
    assert edge.knobs.codec == "h264"


def test_fps_cap_averages_the_cap_when_it_does_not_divide_the_camera_rate() -> None:
    edge = make(fps_cap=4.0, codec="jpeg")
    f = frames(1)[0]
    results = [edge.process(f, i * 0.1)[1] for i in range(50)]  # 5 s of a 10 Hz camera
    assert results.count("sent") in (20, 21)  # 4 Hz, not the 3.3 Hz of "every third frame"
    # Stamps that go back (a replay looping) do not stall the cap.
    assert edge.process(f, 0.0)[1] == "sent"


def _link_kbps(edge: EdgePipeline, fs: list[np.ndarray], seconds: float = 6.0) -> float:
    n = round(seconds * 10)
    sent_bytes = 0
    for i in range(n):
        sent, _ = edge.process(fs[i % len(fs)], i * 0.1)
        if sent is not None:
            sent_bytes += len(sent.packet.data)
    return sent_bytes * 8 / seconds / 1e3


def test_bitrate_is_the_link_rate_under_an_fps_cap() -> None:
    """bitrate_kbps is what the link carries while the edge sends every frame the cap allows:
    a 5 Hz cap on a 10 Hz camera gives each frame twice the bits, not half the rate."""
    fs = frames(30, noise=40)  # noise keeps x264 at its rate limit
    full = _link_kbps(make(bitrate_kbps=150, gop=1000), fs)
    capped_edge = make(bitrate_kbps=150, gop=1000, fps_cap=5.0)
    capped = _link_kbps(capped_edge, fs)
    assert 0.8 * 150 < full < 1.25 * 150, full
    assert 0.8 * 150 < capped < 1.25 * 150, capped
    assert capped_edge.stats.sent == 30


def test_selector_skips_are_uplink_savings() -> None:
    """Frames the selector skips are never encoded and their bits are not spent elsewhere."""
    still = frames(1, noise=2)[0]
    edge = make(useful_threshold=0.06, key_threshold=0.3, max_key_interval=10)
    results = [edge.process(still, i * 0.1)[1] for i in range(40)]
    assert results.count("sent") == 4  # the first, then one forced KEY per 10 frames
    assert edge.stats.skipped["selector"] == 36
    assert edge.stats.bytes_sent < 0.25 * 4.0 * EdgeKnobs().bitrate_kbps * 125  # < 1/4 of 4 s of rate


def test_camera_size_change_mid_stream_restarts_with_idr() -> None:
    edge = make()
    small, large = frames(3), frames(3, h=192, w=384)
    for i, f in enumerate(small):
        edge.process(f, i * 0.1)
    sent, _ = edge.process(large[0], 0.3)
    assert sent.stream_id == 1 and sent.packet.key_frame
    assert (sent.width, sent.height, sent.original_width, sent.original_height) == (192, 96, 384, 192)
    assert sent.decision.selection.name == "KEY"  # a new view is a new reference
    fresh = make_decoder("h264")
    assert fresh.decode(sent.packet.data, sent.width, sent.height).shape == (96, 192, 3)


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8),
                                 np.zeros((64, 64, 3), np.float32), np.zeros((1, 64, 3), np.uint8)])  # fmt: skip
def test_bad_frames_refused_without_side_effects(bad: np.ndarray) -> None:
    edge = make()
    edge.process(frames(1)[0], 0.0)
    with pytest.raises(ValueError, match="uint8 RGB"):
        edge.process(bad, 0.1)
    assert edge.stats.frames_in == 1 and edge.seq == 1
    assert edge.process(frames(2)[1], 0.2)[1] == "sent"


def test_fps_cap_and_camera_rate_changes_restart_the_h264_stream() -> None:
    edge = make()
    fs = frames(6)
    edge.process(fs[0], 0.0)
    edge.update(fps_cap=5.0)  # new time base: the encoder restarts with an IDR
    sent, _ = edge.process(fs[1], 0.1)
    assert sent.stream_id == 1 and sent.packet.key_frame
    edge.set_camera_fps(30.0)  # cap still 5 Hz: the send rate, hence the stream, is unchanged
    assert edge.process(fs[2], 0.3)[0].stream_id == 1
    edge.update(fps_cap=0.0)  # now 30 Hz
    assert edge.process(fs[3], 0.5)[0].stream_id == 2


def test_h265_stream_restarts_decode_cleanly() -> None:
    edge = make(codec="h265")
    dec = make_decoder("h265")
    fs = frames(5)
    for i, f in enumerate(fs[:3]):
        sent, _ = edge.process(f, i * 0.1)
        assert dec.decode(sent.packet.data, sent.width, sent.height).shape == (64, 128, 3)
    edge.update(downscale=4)
    sent, _ = edge.process(fs[3], 0.3)
    assert sent.packet.key_frame and sent.stream_id == 1
    assert make_decoder("h265").decode(sent.packet.data, sent.width, sent.height).shape == (32, 64, 3)


def test_new_stream_starts_with_a_selector_key() -> None:
    """The cloud starts a new stream from scratch: its first frame is a KEY, not a USEFUL frame
    that would reuse deep features of the previous stream."""
    edge = make(key_threshold=0.99, useful_threshold=0.0, max_key_interval=1000)
    fs = frames(5)
    kinds = [edge.process(f, i * 0.1)[0].decision.selection.name for i, f in enumerate(fs[:3])]
    assert kinds == ["KEY", "USEFUL", "USEFUL"]
    edge.update(codec="jpeg")
    sent, _ = edge.process(fs[3], 0.3)
    assert sent.stream_id == 1 and sent.decision.selection.name == "KEY"
    assert edge.process(fs[4], 0.4)[0].decision.selection.name == "USEFUL"


def test_the_camera_rate_is_measured_from_stamps() -> None:
    from cloudseg_ros.edge.camera_rate import CameraRate

    rate = CameraRate(window=30, tolerance=0.2, min_intervals=10)
    for i in range(5):
        rate.add(i / 30)
    assert rate.fps is None and rate.faster_than(10.0) is None  # too few frames to tell
    for i in range(5, 40):
        rate.add(i / 30 + (0.004 if i % 7 == 0 else 0.0))  # jitter does not move the median
    assert rate.fps == pytest.approx(30.0, rel=0.01)
    assert rate.faster_than(10.0) == pytest.approx(30.0, rel=0.01) and rate.faster_than(28.0) is None
    assert rate.faster_than(60.0) is None  # slower: maybe frames the node never got, not the camera
    rate.add(40 / 30)  # a republished frame (same stamp) and a replay that loops back
    rate.add(0.0)
    assert rate.fps is None


def test_knobs_the_encoder_cannot_run_on_this_camera_are_refused_at_once() -> None:
    """H.265 at x16 of a 256x128 camera (16x8: libx265 takes no side under 16 px) was accepted
    and then failed on every frame; check() says why before anything changes."""
    edge = make(codec="h264")
    assert edge.check(codec="h265", downscale=16) is None  # no frame yet: the camera is unknown
    edge.process(frames(1)[0], 0.0)
    assert edge.camera_size == (256, 128)
    reason = edge.check(codec="h265", downscale=16)
    assert reason and "h265 cannot encode 16x8" in reason and "camera 256x128" in reason
    assert edge.check(codec="h265", downscale=4) is None
    assert edge.check(codec="jpeg", downscale=16) is None
    assert "useful_threshold" in edge.check(useful_threshold=1.5)
    assert edge.knobs.codec == "h264" and edge.knobs.downscale == 2  # checking changes nothing (make: x2)
