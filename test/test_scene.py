"""Tests of the embedded procedural driving scene (cloudseg_ros.scene.DrivingScene).

Verified: output shapes/dtypes at several sizes (including a non-2:1 aspect), labels
only in {0..18, 255}, determinism and random access (render order does not matter),
that the nine required classes occur over a few frames, variety across seeds,
ego-motion in the default variant and stillness (up to sensor noise) in the static
one, perspective (projected height x depth is constant; road at the bottom centre,
sky/buildings at the top) and cross-resolution consistency of the labels.

Not verified here: realism, speed and the x4 difficulty proxy -- those are measured
and reported by bench/scene.py, not asserted in unit tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.scene import DrivingScene
from cloudseg_ros.scene.labels import IGNORE_ID, NUM_CLASSES, TRAIN_ID
from cloudseg_ros.scene.things import Thing

REQUIRED = ("road", "sidewalk", "building", "vegetation", "sky", "car", "person", "pole", "traffic_sign")


@pytest.mark.parametrize(("width", "height"), [(256, 128), (320, 160), (200, 200)])
def test_shapes_dtypes_and_label_values(width: int, height: int) -> None:
    frame = DrivingScene(seed=4, width=width, height=height).render(3)
    assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
    assert frame.labels.shape == (height, width) and frame.labels.dtype == np.uint8
    values = set(np.unique(frame.labels).tolist())
    assert values <= set(range(NUM_CLASSES)) | {IGNORE_ID}
    assert frame.index == 3 and frame.time_s == pytest.approx(0.3)


def test_time_follows_fps() -> None:
    assert DrivingScene(seed=0, width=256, height=128, fps=4.0).render(10).time_s == pytest.approx(2.5)


def test_deterministic_random_access() -> None:
    a = DrivingScene(seed=7, width=256, height=128)
    b = DrivingScene(seed=7, width=256, height=128)
    forward = [a.render(i) for i in (0, 1, 2, 50)]
    backward = [b.render(i) for i in (50, 2, 1, 0)][::-1]
    for x, y in zip(forward, backward, strict=True):
        assert np.array_equal(x.image, y.image)
        assert np.array_equal(x.labels, y.labels)
    assert np.array_equal(a.render(2).image, forward[2].image)  # re-render after others


@pytest.mark.parametrize("variant", ["default", "static", "fast"])
def test_variants_render_far_into_the_drive(variant: str) -> None:
    frame = DrivingScene(seed=1, width=256, height=128, variant=variant).render(123_456)
    assert frame.image.std() > 10  # not blank


def test_required_classes_appear() -> None:
    seen: set[int] = set()
    for seed in (0, 1, 2):
        scene = DrivingScene(seed=seed, width=512, height=256)
        for index in (0, 40):
            seen |= set(np.unique(scene.render(index).labels).tolist())
    missing = [name for name in REQUIRED if TRAIN_ID[name] not in seen]
    assert not missing, f"classes never rendered: {missing}"


def test_variety_across_seeds() -> None:
    frames = [DrivingScene(seed=s, width=256, height=128).render(0) for s in range(4)]
    for i in range(len(frames)):
        for j in range(i + 1, len(frames)):
            diff = np.abs(frames[i].image.astype(np.int16) - frames[j].image.astype(np.int16)).mean()
            assert diff > 12, f"seeds {i} and {j} look alike (mean abs diff {diff:.1f})"
            assert (frames[i].labels != frames[j].labels).mean() > 0.1


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_ego_motion_and_static_variant() -> None:
    moving = DrivingScene(seed=5, width=256, height=128)
    a, b = moving.render(10), moving.render(11)
    assert _mad(a.image, b.image) > 3
    assert (a.labels != b.labels).mean() > 0.005
    still = DrivingScene(seed=5, width=256, height=128, variant="static")
    c, d = still.render(10), still.render(11)
    assert np.array_equal(c.labels, d.labels)
    assert 0 < _mad(c.image, d.image) < 5  # sensor noise only
    fast = DrivingScene(seed=5, width=256, height=128, variant="fast")
    assert fast.speed > 1.5 * moving.speed


def test_perspective() -> None:
    scene = DrivingScene(seed=2, width=512, height=256)
    frame = scene.render(0)
    cam = scene.camera(0)
    people = [p for p in frame.placements if p.kind == "person"]
    assert len(people) >= 3
    for p in people:  # projected height = f * height / depth: size falls with 1/distance
        assert (p.base - p.top) * p.depth == pytest.approx(cam.f * p.height, rel=1e-6)
        assert p.base == pytest.approx(cam.cy + cam.f * cam.y / p.depth, rel=1e-6)
    # road dominates the bottom centre, the top rows are sky or building (or trees/poles)
    h, w = frame.labels.shape
    bottom = frame.labels[int(0.8 * h) : int(0.9 * h), w // 3 : 2 * w // 3]
    assert (bottom == TRAIN_ID["road"]).mean() > 0.6
    top = frame.labels[: h // 10]
    assert np.isin(top, [TRAIN_ID[c] for c in ("sky", "building", "vegetation", "pole")]).mean() > 0.8
    assert not np.isin(frame.labels[: h // 3], [TRAIN_ID["road"], TRAIN_ID["sidewalk"]]).any()


def test_paint_order_puts_building_line_barriers_first() -> None:
    fence = Thing("fence", 9.0, 20.0, {"length": 15.0, "height": 1.5})
    person = Thing("person", 6.0, 30.0, {"height": 1.7})
    car = Thing("car", 2.0, 10.0, {"length": 4.0})
    order = sorted([car, person, fence], key=lambda t: -t.paint_order())
    assert order == [fence, person, car]  # barriers first, then far to near


def test_cross_resolution_consistency() -> None:
    for seed in (0, 3):
        small = DrivingScene(seed=seed, width=256, height=128).render(7).labels
        big = DrivingScene(seed=seed, width=512, height=256).render(7).labels
        agree = (big[::2, ::2] == small).mean()
        assert agree > 0.9, f"seed {seed}: label agreement {agree:.3f}"


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="variant"):
        DrivingScene(variant="sideways")
    with pytest.raises(ConfigError, match="too small"):
        DrivingScene(width=8, height=4)
