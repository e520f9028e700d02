"""Propagating the latest mask to a camera frame that has none, on real frames of the
embedded driving scene (cloudseg_ros/mask/propagate.py).

Verifies: on consecutive frames with ego motion the propagated mask matches the new frame's
ground truth clearly better than the old mask as it is (one frame and, chained, two frames
on); chaining steps from the previous result; no class id appears that the mask did not
have; a still scene gives the mask back unchanged (no drift from noise); the coordinate map
is exact for zero motion, borders included; frames and mask of different sizes are refused
(the mask node then republishes the mask as it is). Accuracy over whole clips and the cost
are measured by ``bench/selector.py --propagation``, not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.mask.propagate import MaskPropagator, source_map
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.scene import DrivingScene

W, H = 512, 256


@pytest.fixture(scope="module")
def moving() -> list:
    scene = DrivingScene(seed=7, width=W, height=H, variant="default")
    return [scene.render(i) for i in range(3)]


def _miou(truth: np.ndarray, pred: np.ndarray) -> float:
    cm = ConfusionMatrix()
    cm.update(truth, pred)
    return cm.miou()


def test_propagation_beats_the_stale_mask_under_ego_motion(moving: list) -> None:
    f0, f1, f2 = moving
    prop = MaskPropagator()
    one = prop.propagate("m", f0.labels, 0, f0.image, 1, f1.image)
    two = prop.propagate("m", f0.labels, 0, f0.image, 2, f2.image)  # chained through frame 1
    stale1, moved1 = _miou(f1.labels, f0.labels), _miou(f1.labels, one)
    stale2, moved2 = _miou(f2.labels, f0.labels), _miou(f2.labels, two)
    assert stale1 < 0.9  # the scene really moves: the old mask is wrong in places
    assert moved1 > stale1 + 0.08, (stale1, moved1)
    assert moved2 > stale2 + 0.08, (stale2, moved2)
    # and on the pixels that changed class, most are right after propagation
    changed = (f0.labels != f1.labels) & (f1.labels != 255)
    assert np.mean(one[changed] == f1.labels[changed]) > 0.5


def test_chaining_steps_from_the_previous_result(moving: list) -> None:
    f0, f1, f2 = moving
    chained = MaskPropagator()
    first = chained.propagate("m", f0.labels, 0, f0.image, 1, f1.image)
    second = chained.propagate("m", f0.labels, 0, f0.image, 2, f2.image)
    step = MaskPropagator(chain=False).propagate("x", first, 1, f1.image, 2, f2.image)
    assert np.array_equal(second, step)
    direct = MaskPropagator(chain=False).propagate("m", f0.labels, 0, f0.image, 2, f2.image)
    assert not np.array_equal(second, direct)  # a different path, not the same call
    # another mask is never chained onto this one's result
    other = chained.propagate("n", f0.labels, 0, f0.image, 2, f2.image)
    assert np.array_equal(other, direct)


def test_no_class_id_is_invented(moving: list) -> None:
    f0, f1, _ = moving
    rng = np.random.default_rng(0)
    ids = f0.labels.copy()
    ids[rng.random(ids.shape) < 0.01] = 255  # ignore ids travel like any other
    for mask in (ids, rng.choice(np.array([3, 11, 13], np.uint8), size=ids.shape)):
        out = MaskPropagator().propagate("m", mask, 0, f0.image, 1, f1.image)
        assert out.dtype == np.uint8 and out.shape == mask.shape
        assert set(np.unique(out)) <= set(np.unique(mask))


def test_still_scene_gives_the_mask_back() -> None:
    scene = DrivingScene(seed=7, width=W, height=H, variant="static")
    a, b = scene.render(0), scene.render(5)  # differ by sensor noise only
    assert not np.array_equal(a.image, b.image)
    out = MaskPropagator().propagate("m", a.labels, 0, a.image, 5, b.image)
    assert np.array_equal(out, a.labels)


@pytest.mark.parametrize("size", [(1024, 512), (2048, 1024), (640, 480), (1600, 1200), (7, 5)])
def test_zero_motion_maps_every_pixel_to_itself(size: tuple[int, int]) -> None:
    w, h = size
    for tw, th in ((128, 64), (max(1, w // 12), max(1, h // 12))):
        m = source_map(np.zeros((th, tw, 2), np.float32), w, h)
        assert m.shape == (h, w, 2)
        assert np.abs(m[..., 0] - np.arange(w)[None, :]).max() < 1e-3
        assert np.abs(m[..., 1] - np.arange(h)[:, None]).max() < 1e-3


def test_size_mismatch_is_refused(moving: list) -> None:
    f0, f1, _ = moving
    prop = MaskPropagator()
    with pytest.raises(ValueError):
        prop.propagate("m", f0.labels[: H // 2], 0, f0.image, 1, f1.image)
    with pytest.raises(ValueError):
        prop.propagate("m", f0.labels, 0, f0.image, 1, np.ascontiguousarray(f1.image[:, : W // 2]))


@pytest.mark.parametrize("shape", [(10, 10), (64, 1024)])
def test_a_frame_too_small_for_the_flow_gives_the_mask_back(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 255, (*shape, 3), dtype=np.uint8) for _ in range(2))
    ids = rng.integers(0, 19, shape, dtype=np.uint8)
    assert np.array_equal(MaskPropagator().propagate(1, ids, 1, a, 2, b), ids)
