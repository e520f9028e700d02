"""Camera sources on damaged input: a video file with a damaged stretch plays on (the damaged
packets skipped, as a player would); one where nothing decodes is refused, naming the file.
(The camera node turns a refusal into an ERROR log and diagnostics; test_graph.py runs it.)"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cloudseg_ros.camera.sources import V4L2Source, VideoSource
from cloudseg_ros.errors import ConfigError

FRAMES = 30


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for _ in range(FRAMES):
            image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path.read_bytes()


def damaged(data: bytes, start: int, stop: int) -> bytes:
    out = bytearray(data)
    out[start:stop] = bytes((b * 7 + 13) % 256 for b in out[start:stop])
    return bytes(out)


def test_a_damaged_stretch_is_skipped(video: bytes, tmp_path: Path) -> None:
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damaged(video, len(video) // 3, len(video) // 3 + 2000))  # inside the frame data
    source = VideoSource(str(path), loop=False)
    frames = list(source.frames())
    assert FRAMES - 5 <= len(frames) < FRAMES and source.damaged >= 1
    assert all(f.image.shape == (96, 128, 3) for f in frames)


def test_a_file_where_nothing_decodes_is_refused_by_name(video: bytes, tmp_path: Path) -> None:
    path = tmp_path / "ruined.mp4"
    path.write_bytes(damaged(video, 100, len(video) - 2000))  # every frame, the index kept
    with pytest.raises(ConfigError, match=r"ruined\.mp4.*damaged"):
        list(VideoSource(str(path), loop=True).frames())


def _drain(reader, timeout: float = 20.0) -> list:
    import queue
    import time

    from cloudseg_ros.camera.reader import END

    frames, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = reader.next_frame()
        except queue.Empty:
            time.sleep(0.005)
            continue
        if frame is END:
            return frames
        frames.append(frame)
    raise AssertionError("the source did not end")


def _next(reader, timeout: float = 20.0):
    import queue
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return reader.next_frame()
        except queue.Empty:
            time.sleep(0.005)
    raise AssertionError("no frame")


def test_a_file_is_read_ahead_without_losing_a_frame(video: bytes, tmp_path: Path) -> None:
    from cloudseg_ros.camera.reader import FrameReader

    path = tmp_path / "clip.mp4"
    path.write_bytes(video)
    reader = FrameReader(VideoSource(str(path), loop=False))
    frames = _drain(reader)
    assert [f.index for f in frames] == list(range(FRAMES)) and reader.dropped_live == 0 and not reader.error


def test_a_live_source_keeps_only_its_newest_frame_stamped_at_capture() -> None:
    """A camera runs at its own rate whatever the node reads: frames the node's timer did
    not take are replaced, not queued to be published late."""
    import time

    from cloudseg_ros.camera.reader import FrameReader
    from cloudseg_ros.camera.sources import SyntheticSource

    source = SyntheticSource(64, 32)  # renders in milliseconds: a camera faster than any timer
    source.live = True  # the policy under test is the reader's; the flag is what V4L2Source sets
    reader = FrameReader(source)
    try:
        _first = _next(reader)  # the scene takes a while to build
        time.sleep(1.0)  # nobody reads
        t0 = time.time_ns()
        frame = _next(reader)
        assert reader.dropped_live >= 5, reader.dropped_live
        assert frame.index >= _first.index + 5  # the newest, not the next
    finally:
        reader.stop()
    assert frame.stamp_ns is None or frame.stamp_ns <= t0  # the scene has no capture stamps
    assert V4L2Source.live and not VideoSource.live


def test_the_reader_says_when_its_source_is_still_being_read() -> None:
    """A stalled camera's read blocks (V4L2: up to the driver's 10 s); the node must not close
    the source under it, so stop() says whether the reader thread has ended."""
    import threading

    from cloudseg_ros.camera.reader import FrameReader
    from cloudseg_ros.camera.sources import SyntheticSource

    release = threading.Event()

    class Stalled(SyntheticSource):
        def frames(self):
            release.wait(10)  # a read that does not return
            yield from ()

    reader = FrameReader(Stalled(64, 32))
    assert reader.stop(timeout=0.2) is False
    release.set()
    assert reader.stop(timeout=5) is True


def test_a_failing_source_is_reported_then_ends(video: bytes, tmp_path: Path) -> None:
    from cloudseg_ros.camera.reader import FrameReader

    path = tmp_path / "ruined.mp4"
    path.write_bytes(damaged(video, 100, len(video) - 2000))
    reasons: list[str] = []
    reader = FrameReader(VideoSource(str(path), loop=True), on_error=reasons.append)
    assert _drain(reader) == []
    assert len(reasons) == 1 and "ruined.mp4" in reasons[0] and reader.error == reasons[0]


def test_the_synthetic_camera_reports_the_scenes_intrinsics() -> None:
    """CameraInfo's K for the synthetic scene (was all zero: "uncalibrated"): the focal length
    the renderer uses and its principal point, on the horizon row, in ROS's pixel convention
    (centres at integers; the renderer's at +0.5)."""
    from cloudseg_ros.camera.sources import SyntheticSource
    from cloudseg_ros.scene.camera import HORIZON, Camera, focal_for

    w, h = 320, 160
    k = SyntheticSource(w, h).calibration.k
    f, cx, cy = k[0], k[2], k[5]
    assert f == focal_for(w, h) > 0
    level = Camera(w, h, f, w / 2, HORIZON * h, 0.0, 1.5, 0.0)  # as EgoPath.camera with no yaw/pitch
    ahead = level.project(np.array([[0.0, 1.5, 1e6], [2.0, 0.5, 10.0]]))
    assert ahead[0] - 0.5 == pytest.approx([cx, cy])  # a point far ahead at camera height
    assert ahead[1, 0] - 0.5 == pytest.approx(cx + f * 2.0 / 10.0)
    assert ahead[1, 1] - 0.5 == pytest.approx(cy + f * 1.0 / 10.0)


def test_a_folder_plays_in_natural_order_and_skips_what_does_not_read(tmp_path: Path) -> None:
    """Unpadded frame dumps play frame2 before frame10 (a plain sort played 1, 10, 2: motion
    and selection garbled); an unreadable image is skipped and counted (it stopped the
    camera for good when reached); a folder where nothing reads is refused naming it."""
    import cv2

    from cloudseg_ros.camera.sources import FolderSource

    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), np.full((8, 16, 3), i, np.uint8))
    (tmp_path / "frame3.png").write_bytes(b"not a png")
    source = FolderSource(str(tmp_path), loop=False)
    frames = list(source.frames())
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 10] and source.unreadable == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"nothing")
    with pytest.raises(ConfigError, match=r"broken.*could be read"):
        list(FolderSource(str(broken), loop=True).frames())


def test_a_size_of_zero_on_one_side_keeps_the_aspect_ratio(tmp_path: Path) -> None:
    import cv2

    from cloudseg_ros.camera.sources import FolderSource

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((30, 40, 3), np.uint8))
    assert next(FolderSource(str(tmp_path), width=80, height=0).frames()).image.shape == (60, 80, 3)
    assert next(FolderSource(str(tmp_path), width=0, height=15).frames()).image.shape == (15, 20, 3)
    assert next(FolderSource(str(tmp_path)).frames()).image.shape == (30, 40, 3)
    # Both sides given, another aspect: stretched, and the source says so for the node to warn
    # (the shipped 1024x512 turned a 4:3 webcam into 2:1 without a word).
    stretched = FolderSource(str(tmp_path), width=80, height=40)
    assert next(stretched.frames()).image.shape == (40, 80, 3) and stretched.stretched == (40, 30)
    same = FolderSource(str(tmp_path), width=80, height=60)
    assert next(same.frames()).image.shape == (60, 80, 3) and same.stretched is None


def test_a_file_without_a_video_stream_is_refused_at_open(tmp_path: Path) -> None:
    """An audio-only file passed the open check and failed at run time with an IndexError."""
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
    with pytest.raises(ConfigError, match=r"sound\.wav.*no video stream"):
        VideoSource(str(path))


def test_a_video_with_a_rotation_matrix_plays_upright(tmp_path: Path) -> None:
    """A phone video held upright stores landscape frames and a 90-degree display matrix
    (MP4 tkhd): played sideways before. The frame's left half (white) is its top once turned
    clockwise, as players show it."""
    import struct

    path = tmp_path / "portrait.mp4"
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = 255
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    data = bytearray(path.read_bytes())
    matrix = data.find(b"tkhd") + 4 + 4 + 4 * 5 + 8 + 8  # version/flags, times, id, duration, layer...
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    frames = list(VideoSource(str(path), loop=False).frames())
    assert frames and frames[0].image.shape == (64, 48, 3)
    top, bottom = frames[0].image[:28].mean(), frames[0].image[36:].mean()
    assert top > 200 and bottom < 50, (top, bottom)
