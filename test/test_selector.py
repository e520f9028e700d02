"""Frame selector logic on real frames of the embedded scene.

Verifies: identical frames are skipped, strong changes make KEY frames, forced and
interval KEYs, threshold validation; the skip decision is taken against the last frame SENT
and its staleness adds up over the frames skipped since; the "unexplained" score ignores
motion the flow follows (a shifted frame) and counts none on a still scene, while a moving
one never skips more than a couple of frames in a row at the defaults. Accuracy/bandwidth
trade-offs of thresholds are measured in bench/selector.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.scene import DrivingScene
from cloudseg_ros.selector import FrameSelector, Selection


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    scene = DrivingScene(seed=3, width=256, height=128, variant="fast")
    return [scene.render(i).image for i in range(0, 40, 4)]


def test_first_frame_is_key_and_repeat_is_skipped(frames: list[np.ndarray]) -> None:
    sel = FrameSelector(key_threshold=0.3, useful_threshold=0.05, max_key_interval=100)
    assert sel.select(frames[0]).selection == Selection.KEY
    d = sel.select(frames[0].copy())
    assert d.selection == Selection.SKIP and d.score < 0.05


def test_large_change_is_key(frames: list[np.ndarray]) -> None:
    sel = FrameSelector(key_threshold=0.2, useful_threshold=0.02, max_key_interval=100)
    sel.select(frames[0])
    other = np.ascontiguousarray(frames[0][:, ::-1])  # mirrored: outlines all move
    d = sel.select(other)
    assert d.selection == Selection.KEY and d.score >= 0.2


def test_scores_grow_with_distance_from_key(frames: list[np.ndarray]) -> None:
    sel = FrameSelector(key_threshold=1.0, useful_threshold=0.0, max_key_interval=1000)
    sel.select(frames[0])
    scores = [sel.select(f).key_score for f in frames[1:6]]
    assert scores[-1] > scores[0]


def test_forced_and_interval_keys(frames: list[np.ndarray]) -> None:
    sel = FrameSelector(key_threshold=1.0, useful_threshold=1.0, max_key_interval=3)
    sel.select(frames[0])
    kinds = [sel.select(frames[0]).selection for _ in range(3)]
    assert kinds == [Selection.SKIP, Selection.SKIP, Selection.KEY]
    sel.force_key()
    d = sel.select(frames[0])
    assert d.selection == Selection.KEY and d.reason == "forced"


def test_thresholds_validated() -> None:
    with pytest.raises(ValueError, match="useful_threshold"):
        FrameSelector(key_threshold=0.1, useful_threshold=1.2)
    with pytest.raises(ValueError, match="key_threshold"):
        FrameSelector(key_threshold=-0.1, useful_threshold=0.0)
    with pytest.raises(ValueError):
        FrameSelector(max_key_interval=0)


def test_sensor_noise_is_skipped_motion_is_not() -> None:
    """At the default thresholds a still scene (sensor noise only) is skipped until the forced
    KEY, and a moving one never goes more than two frames without sending one."""
    from cloudseg_ros.edge.pipeline import EdgeKnobs

    k = EdgeKnobs()
    for variant in ("static", "default"):
        scene = DrivingScene(seed=11, width=512, height=256, variant=variant)
        sel = FrameSelector(k.key_threshold, k.useful_threshold, max_key_interval=1000)
        sel.select(scene.render(0).image)
        decisions = [sel.select(scene.render(i).image) for i in range(1, 9)]
        kinds = "".join("S" if d.selection == Selection.SKIP else "s" for d in decisions)
        if variant == "static":
            assert kinds == "S" * 8 and all(d.staleness == 0.0 for d in decisions), decisions
        else:
            assert "SSS" not in kinds and all(d.staleness > 0.03 for d in decisions), decisions


def test_staleness_adds_up_against_the_last_frame_sent(frames: list[np.ndarray]) -> None:
    probe = FrameSelector(key_threshold=1.0, useful_threshold=1.0, max_key_interval=100)
    probe.select(frames[0])
    one = probe.select(frames[1]).staleness
    assert 0.0 < one < 0.5
    sel = FrameSelector(key_threshold=1.0, useful_threshold=1.5 * one, max_key_interval=100)
    sel.select(frames[0])
    first = sel.select(frames[1])  # skipped: one frame's worth
    second = sel.select(frames[1])  # the same again: the skipped frame did not become the reference
    assert first.selection == Selection.SKIP and first.staleness == pytest.approx(one)
    assert second.selection == Selection.USEFUL and second.staleness == pytest.approx(2 * one)
    third = sel.select(frames[1])  # the USEFUL frame is the reference now, not the KEY
    assert third.selection == Selection.SKIP and third.staleness < 0.02
    assert third.key_score > 0.05  # still far from the KEY: that score alone decides KEYs


def test_unexplained_ignores_motion_the_flow_follows() -> None:
    from cloudseg_ros.mask.propagate import make_flow
    from cloudseg_ros.selector.features import deviation, extract, unexplained

    image = DrivingScene(seed=3, width=512, height=256, variant="default").render(0).image
    a = extract(np.ascontiguousarray(image[:, 32:-32]))
    b = extract(np.ascontiguousarray(image[:, 24:-40]))  # the same view, 8 pixels to the side
    flow = make_flow()
    assert deviation(b, a) > 0.2  # looks very different ...
    assert unexplained(b, a, flow) < 0.1  # ... but motion explains it (bar the strip that came in)
    assert unexplained(a, a, flow) == 0.0


def test_thumbnail_reads_a_fraction_of_the_frame_and_keeps_aspect() -> None:
    from cloudseg_ros.selector.features import THUMB_WIDTH, extract, thumbnail_view

    for h, w in ((1024, 2048), (512, 1024), (480, 640), (128, 256), (2, 2)):
        rgb = np.zeros((h, w, 3), np.uint8)
        view, tw, th = thumbnail_view(rgb)
        assert np.shares_memory(view, rgb)  # a view: no copy of the frame
        if w >= 4 * THUMB_WIDTH:
            assert 0.85 * THUMB_WIDTH <= tw <= 1.15 * THUMB_WIDTH
            assert view.shape[0] <= h / 3  # most rows are never read
            assert abs(th / tw - h / w) < 0.05
        f = extract(rgb)
        assert f.gray.shape == (th, tw) and f.edges.shape == (th, tw)


@pytest.mark.parametrize("shape", [(2, 2), (10, 10), (64, 1024), (6, 640), (1024, 8)])
def test_tiny_or_very_wide_frames_are_scored_without_motion(shape: tuple[int, int]) -> None:
    """A thumbnail too small for the optical flow (DIS raises on it) is compared unmoved:
    a 64x1024 camera's thumbnail is 6 rows high, and the edge node must not stop on it."""
    rng = np.random.default_rng(0)
    sel = FrameSelector(key_threshold=0.3, useful_threshold=0.1, max_key_interval=100)
    frame = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
    assert sel.select(frame).selection == Selection.KEY
    assert sel.select(frame.copy()).selection == Selection.SKIP  # unchanged
    assert sel.select(255 - frame).selection == Selection.KEY  # everything changed
