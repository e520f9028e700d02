"""Camera sources on damaged input: a video file with a damaged stretch plays on (the damaged
packets skipped, as a player would); one where nothing decodes is refused, naming the file.
(The camera node turns a refusal into an ERROR log and diagnostics; test_graph.py runs it.)"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cloudseg_ros.camera.sources import VideoSource
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
