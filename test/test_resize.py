"""Resize helpers: sizes, the area-average property, pixel-centre alignment, label resizing.

Verified: even_size's rounding rule; downscale output sizes (divisible, non-divisible, odd
quotients, even=False) and that an integer factor gives exact block means; the whole field of
view is kept when not divisible; upscale methods and their errors; nearest label resizing never
invents classes, matches the numpy reference for every dtype and is centre-aligned.
Not verified: speed (bench/edge.py measures the downscale cost).
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.imaging import downscale, downscaled_size, even_size, resize_labels_nearest, upscale


@pytest.mark.parametrize(
    ("size", "expected"),
    [((256, 128), (256, 128)), ((255, 127), (254, 126)), ((1, 1), (2, 2)), ((3, 2), (2, 2))],
)
def test_even_size_rounds_down_to_even(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert even_size(*size) == expected


def test_even_size_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        even_size(0, 10)


@pytest.mark.parametrize(
    ("size", "factor", "even", "expected"),
    [
        ((2048, 1024), 4, True, (512, 256)),
        ((1000, 500), 4, True, (250, 124)),  # 125 rows is odd -> 124
        ((1000, 500), 4, False, (250, 125)),
        ((1001, 503), 4, True, (250, 124)),  # not divisible: floor, then even
        ((36, 36), 4, False, (9, 9)),
        ((6, 6), 4, True, (2, 2)),
    ],
)
def test_downscale_sizes(size: tuple[int, int], factor: int, even: bool, expected: tuple[int, int]) -> None:
    assert downscaled_size(*size, factor, even) == expected
    rgb = np.zeros((size[1], size[0], 3), np.uint8)
    assert downscale(rgb, factor, even).shape == (expected[1], expected[0], 3)


def test_downscale_integer_factor_is_block_mean() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    out = downscale(rgb, 4)
    ref = rgb.reshape(16, 4, 32, 4, 3).mean(axis=(1, 3))
    assert np.abs(out - ref).max() <= 0.5


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_the_fast_downscale_is_within_half_a_level_per_halving_of_the_block_mean(factor: int) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (8 * 16, 8 * 32, 3), dtype=np.uint8)
    out = downscale(rgb, factor, exact=False)
    h, w = rgb.shape[0] // factor, rgb.shape[1] // factor
    ref = rgb.reshape(h, factor, w, factor, 3).mean(axis=(1, 3))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert np.abs(out - ref).max() <= 0.5 * np.log2(factor)
    assert abs(float((out - ref).mean())) < 0.15 * np.log2(factor)  # OpenCV rounds halves up: +1/8 each
    # Where the factor does not divide the frame, or is not a power of two, the exact resize runs.
    odd = rgb[:, :-4]
    assert np.array_equal(downscale(odd, 4, exact=False), downscale(odd, 4))
    assert np.array_equal(downscale(rgb, 3, exact=False), downscale(rgb, 3))


def test_downscale_keeps_the_whole_field_of_view_when_not_divisible() -> None:
    # A bright last column must still show up in the last output column (nothing is cropped).
    rgb = np.zeros((50, 101, 3), np.uint8)
    rgb[:, -4:] = 255
    out = downscale(rgb, 4)
    assert out.shape[:2] == (12, 24)
    assert out[:, -1].min() > 100
    assert out[:, :-1].max() < 100


def test_downscale_returns_input_when_size_unchanged() -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    assert downscale(rgb, 1) is rgb


def test_downscale_rejects_bad_factor() -> None:
    with pytest.raises(ValueError, match="factor"):
        downscale(np.zeros((8, 8, 3), np.uint8), 0)


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "nearest"])
def test_upscale_methods_preserve_constant_and_size(method: str) -> None:
    rgb = np.full((16, 32, 3), 77, np.uint8)
    out = upscale(rgb, 128, 64, method)  # type: ignore[arg-type]
    assert out.shape == (64, 128, 3)
    assert (out == 77).all()


def test_upscale_nearest_replicates_blocks() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    out = upscale(rgb, 16, 16, "nearest")
    assert (out == np.repeat(np.repeat(rgb, 4, 0), 4, 1)).all()


def test_upscale_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        upscale(np.zeros((4, 4, 3), np.uint8), 8, 8, "lanczos")  # type: ignore[arg-type]


def _nearest_reference(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = labels.shape
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(int), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(int), w - 1)
    return labels[np.ix_(rows, cols)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize(("src", "dst"), [((7, 5), (28, 20)), ((64, 32), (256, 128)), ((13, 11), (6, 4))])
def test_resize_labels_nearest_matches_reference(
    dtype: type, src: tuple[int, int], dst: tuple[int, int]
) -> None:
    labels = np.random.default_rng(2).integers(0, 19, (src[1], src[0])).astype(dtype)
    out = resize_labels_nearest(labels, *dst)
    assert out.dtype == labels.dtype
    assert out.shape == (dst[1], dst[0])
    assert (out == _nearest_reference(labels, *dst)).all()
    assert set(np.unique(out)) <= set(np.unique(labels))  # no invented classes


def test_resize_labels_rejects_images() -> None:
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        resize_labels_nearest(np.zeros((4, 4, 3), np.uint8), 8, 8)
