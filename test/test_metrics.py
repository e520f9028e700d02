"""Segmentation metrics: the confusion matrix's mIoU and the label-grid limit of a downscale."""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.evaluation.frames import load_frames
from cloudseg_ros.evaluation.table1 import label_limit
from cloudseg_ros.metrics import ConfusionMatrix, block_labels
from cloudseg_ros.scene.labels import IGNORE_ID, TRAIN_ID


def test_block_labels_keeps_each_blocks_majority_and_ignores_only_empty_blocks() -> None:
    labels = np.zeros((4, 8), np.uint8)
    labels[:, 4:] = 2
    labels[0, 0] = 5  # one pixel of a thin thing in a road block: lost on the coarse grid
    labels[0:3, 5:8] = 5  # most of the second block: kept, and spread over the whole block
    labels[0, 4] = IGNORE_ID
    out = block_labels(labels, 4)
    assert out.shape == labels.shape
    assert (out[:, :4] == 0).all()
    assert (out[:, 4:] == 5).all()
    labels[:, :4] = IGNORE_ID
    assert (block_labels(labels, 4)[:, :4] == IGNORE_ID).all()


def test_block_labels_refuses_a_grid_that_does_not_divide_the_frame() -> None:
    with pytest.raises(ValueError, match="4x4 blocks"):
        block_labels(np.zeros((6, 8), np.uint8), 4)


def test_a_thin_pole_loses_more_on_the_coarse_grid_than_the_road_around_it() -> None:
    labels = np.full((64, 64), TRAIN_ID["road"], np.uint8)
    labels[:, 30:32] = TRAIN_ID["pole"]  # 2 px wide: under half of every 4 px block
    cm = ConfusionMatrix()
    cm.update(labels, block_labels(labels, 4))
    iou = cm.per_class()
    assert iou["pole"] == 0.0
    assert iou["road"] > 0.9


def test_label_limit_of_the_scene_singles_out_the_small_classes() -> None:
    frames = load_frames([1000], 2, 256, 128)
    limit = label_limit(frames, 4)
    assert limit["factor"] == 4
    assert 0.0 < limit["miou"] < 1.0
    assert limit["per_class"]["road"] > 0.9
    assert set(limit) >= {"person", "pole", "traffic_sign", "traffic_light"}


def test_a_prediction_that_is_no_class_is_wrong_for_its_pixel() -> None:
    """255 (the ignore id a propagated mask may carry) or a negative id predicted on road was
    counted as road (an all-255 prediction of a road frame scored mIoU 1.0)."""
    truth = np.zeros((4, 4), np.int64)  # road
    truth[:, 2:] = 13  # car
    cm = ConfusionMatrix()
    cm.update(truth, np.full((4, 4), 255))
    assert cm.miou() == 0.0 and cm.pixel_accuracy() == 0.0 and cm.pixels == 16
    half = truth.copy()
    half[:, 0] = -1  # half of road predicted as no class
    cm = ConfusionMatrix()
    cm.update(truth, half)
    assert cm.per_class()["road"] == 0.5 and cm.per_class()["car"] == 1.0
    other = ConfusionMatrix()
    other.update(np.full((2, 2), -1), np.zeros((2, 2), np.int64))  # negative truth: not scored
    cm.merge(other)
    assert cm.pixels == 16 and cm.miou() == 0.75


def test_ssim_of_an_image_smaller_than_its_window_is_a_number() -> None:
    from cloudseg_ros.metrics import ssim

    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (5, 6, 3), dtype=np.uint8)
    assert ssim(small, small) == pytest.approx(1.0)
    inverted = ssim(small, 255 - small)
    assert np.isfinite(inverted) and inverted < 0.5  # was NaN (no 7x7 window fits)


def test_a_seed_equal_to_a_training_seed_modulo_2_64_is_not_held_out() -> None:
    from cloudseg_ros.errors import ConfigError
    from cloudseg_ros.train.data import check_disjoint

    check_disjoint(range(0, 200), [1000, 1001])
    with pytest.raises(ConfigError, match=r"\[-1\]"):
        check_disjoint([2**64 - 1], [-1, 1000])  # the scene renders the same frames for both


def test_a_class_only_predicted_counts_in_the_union_mean_only() -> None:
    """Half road, half sky; a quarter predicted as train (in no ground truth): the project's mIoU
    averages road and sky (0.75); cityscapesScripts' rule also averages train's 0 (0.5)."""
    truth = np.zeros((4, 4), np.int64)
    truth[2:] = 10  # sky
    pred = truth.copy()
    pred[:1] = 16  # train, over a quarter of the road
    cm = ConfusionMatrix()
    cm.update(truth, pred)
    assert cm.miou() == pytest.approx((0.5 + 1.0) / 2)  # road 4 of 8 pixels right, sky all
    assert cm.miou_union() == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    empty = ConfusionMatrix()
    assert np.isnan(empty.miou()) and np.isnan(empty.miou_union())
