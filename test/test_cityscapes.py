"""Tests of the Cityscapes-layout writer/loader and the `cloudseg synth` command.

Verified: file naming and layout, a lossless write/read round trip (RGB order
preserved), conversion of real-Cityscapes ``*_labelIds.png`` to train ids, sorted
order and city filtering, clear errors for a missing root/split and for an image
without labels, and `cloudseg synth` end to end (including argument errors).
Not verified: reading the actual Cityscapes release (not available offline).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cloudseg_ros.cli import main
from cloudseg_ros.errors import CloudsegError, ConfigError
from cloudseg_ros.scene import CityscapesDataset, DrivingScene, write_cityscapes_frame
from cloudseg_ros.scene.labels import IGNORE_ID


def _random_frame(rng: np.random.Generator, h: int = 16, w: int = 24) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 19, (h, w)).astype(np.uint8)
    labels[0, 0] = IGNORE_ID
    return rng.integers(0, 256, (h, w, 3)).astype(np.uint8), labels


def test_write_layout_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [_random_frame(rng) for _ in range(3)]
    for k, (img, lab) in enumerate(frames):
        img_path, lab_path = write_cityscapes_frame(tmp_path, "val", "synth7", 7, k, img, lab)
        assert img_path == tmp_path / "leftImg8bit/val/synth7" / f"synth7_000007_{k:06d}_leftImg8bit.png"
        assert lab_path == tmp_path / "gtFine/val/synth7" / f"synth7_000007_{k:06d}_gtFine_labelTrainIds.png"
    data = CityscapesDataset(tmp_path, "val")
    assert len(data) == 3
    for k, (img, lab) in enumerate(frames):
        assert np.array_equal(data[k].image, img)
        assert np.array_equal(data[k].labels, lab)
    assert data.name(1) == "synth7_000007_000001"


def test_order_and_city_filter(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for city in ("bonn", "aachen"):
        for k in (2, 0):
            write_cityscapes_frame(tmp_path, "train", city, 0, k, *_random_frame(rng))
    data = CityscapesDataset(tmp_path)
    assert [data.name(i) for i in range(len(data))] == [
        "aachen_000000_000000",
        "aachen_000000_000002",
        "bonn_000000_000000",
        "bonn_000000_000002",
    ]
    assert len(CityscapesDataset(tmp_path, cities=["bonn"])) == 2
    with pytest.raises(ConfigError, match="koeln"):
        CityscapesDataset(tmp_path, cities=["koeln"])


def test_label_ids_are_converted(tmp_path: Path) -> None:
    img_dir, lab_dir = tmp_path / "leftImg8bit/val/x", tmp_path / "gtFine/val/x"
    img_dir.mkdir(parents=True)
    lab_dir.mkdir(parents=True)
    cv2.imwrite(str(img_dir / "x_000001_000019_leftImg8bit.png"), np.zeros((4, 4, 3), np.uint8))
    label_ids = np.array([[7, 8, 11, 26], [24, 23, 0, 1], [33, 17, 20, 21], [3, 4, 5, 6]], np.uint8)
    cv2.imwrite(str(lab_dir / "x_000001_000019_gtFine_labelIds.png"), label_ids)
    got = CityscapesDataset(tmp_path, "val")[0].labels
    expected = np.array([[0, 1, 2, 13], [11, 10, 255, 255], [18, 5, 7, 8], [255, 255, 255, 255]], np.uint8)
    assert np.array_equal(got, expected)


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere"):
        CityscapesDataset(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="leftImg8bit/test"):
        CityscapesDataset(tmp_path, "test")
    img_dir = tmp_path / "leftImg8bit/train/c"
    img_dir.mkdir(parents=True)
    cv2.imwrite(str(img_dir / "c_000000_000003_leftImg8bit.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(CloudsegError, match=r"c_000000_000003_leftImg8bit\.png"):
        CityscapesDataset(tmp_path)


def test_synth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    argv = ["synth", "--seed", "3", "--frames", "2", "--out", str(out), "--width", "128", "--height", "64"]
    assert main([*argv, "--start", "5", "--split", "val"]) == 0
    assert "wrote 2 frames" in capsys.readouterr().out
    data = CityscapesDataset(out, "val")
    assert [data.name(i) for i in range(2)] == ["synth3_000003_000005", "synth3_000003_000006"]
    expected = DrivingScene(3, 128, 64).render(6)
    assert np.array_equal(data[1].image, expected.image)
    assert np.array_equal(data[1].labels, expected.labels)


@pytest.mark.parametrize(
    "extra",
    [
        ["--frames", "0"],
        ["--frames", "1", "--width", "129"],
        ["--frames", "1", "--height", "16"],
        ["--frames", "1", "--variant", "x"],
    ],
)
def test_synth_bad_arguments(tmp_path: Path, extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(["synth", "--out", str(tmp_path), *extra])
    except SystemExit as exc:  # refused by the argument parser (e.g. --frames 0), usage on stderr
        status = exc.code
    assert status != 0
    assert "error" in capsys.readouterr().err


def test_the_camera_plays_any_split_palette_labels_and_unlabelled_images(tmp_path: Path) -> None:
    """`cloudseg synth` writes train by default and the camera's folder source read only val
    (refused); a label PNG in palette mode (as some tools write them) was refused as not
    single-channel; an image without a label stopped the whole folder, though a camera
    needs no labels (those frames are published without)."""
    from PIL import Image

    from cloudseg_ros.camera.sources import open_source

    rng = np.random.default_rng(2)
    write_cityscapes_frame(tmp_path, "train", "c", 0, 0, *_random_frame(rng))
    img, lab = _random_frame(rng)
    write_cityscapes_frame(tmp_path, "train", "c", 0, 1, img, lab)
    palette = Image.fromarray(lab, mode="L").convert("P")  # indices = the ids
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    palette.save(tmp_path / "gtFine/train/c/c_000000_000001_gtFine_labelTrainIds.png")
    cv2.imwrite(
        str(tmp_path / "leftImg8bit/train/c/c_000000_000002_leftImg8bit.png"), np.zeros((16, 24, 3), np.uint8)
    )
    frames = list(open_source("folder", str(tmp_path), loop=False).frames())  # the only split: train
    assert len(frames) == 3 and np.array_equal(frames[1].labels, lab) and frames[2].labels is None
    with pytest.raises(CloudsegError, match="c_000000_000002"):  # training data keeps needing labels
        CityscapesDataset(tmp_path, "train")
    write_cityscapes_frame(tmp_path, "test", "c", 0, 0, *_random_frame(rng))
    with pytest.raises(ConfigError, match="split"):  # two splits, no val: which one?
        open_source("folder", str(tmp_path), loop=False)
    assert len(list(open_source("folder", str(tmp_path), loop=False, split="test").frames())) == 1
    rgb_label = tmp_path / "gtFine/test/c/c_000000_000000_gtFine_labelTrainIds.png"
    cv2.imwrite(str(rgb_label), np.zeros((16, 24, 3), np.uint8))
    with pytest.raises(CloudsegError, match="not a single-channel 8-bit PNG"):
        CityscapesDataset(tmp_path, "test")[0]
