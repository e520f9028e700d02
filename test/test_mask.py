"""Downlink masks: lossless PNG round trip, refusal of anything else, restore/colour/overlay.

Verifies exact class ids after compression, header checks before decoding (size claim,
signature), and nearest-neighbour restoration (no invented class ids). The mask node's
topics are covered in test_graph.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.errors import PayloadError
from cloudseg_ros.mask.codec import decode_mask, encode_mask
from cloudseg_ros.mask.render import colorize, overlay, restore
from cloudseg_ros.scene.labels import PALETTE


def sample_mask(h: int = 64, w: int = 128) -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = np.zeros((h, w), np.uint8)
    ids[h // 2 :] = 0
    ids[: h // 3] = 10
    ids[h // 3 : h // 2, : w // 2] = 2
    ids[rng.integers(0, h, 50), rng.integers(0, w, 50)] = 11
    ids[5, 5] = 255
    return ids


def test_png_round_trip_is_exact_and_small() -> None:
    ids = sample_mask(256, 512)
    data = encode_mask(ids)
    assert np.array_equal(decode_mask(data, 512, 256), ids)
    assert len(data) < ids.size / 10


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: b"",
        lambda d: d[:20],
        lambda d: b"GIF89a" + d[6:],
        lambda d: d[:40] + bytes(len(d) - 40),
        lambda d: d[: len(d) // 2],
    ],
)
def test_bad_png_refused(mutate) -> None:
    data = encode_mask(sample_mask())
    with pytest.raises(PayloadError):
        decode_mask(mutate(data), 128, 64)


def test_size_claim_checked_before_decoding() -> None:
    data = encode_mask(sample_mask())
    with pytest.raises(PayloadError, match="64"):
        decode_mask(data, 100, 64)
    with pytest.raises(PayloadError, match="out of bounds"):
        decode_mask(data, 100000, 100000)


def test_restore_is_nearest_and_overlay_blends() -> None:
    ids = sample_mask()
    big = restore(ids, 512, 256)
    assert big.shape == (256, 512)
    assert set(np.unique(big)) <= set(np.unique(ids))
    assert restore(ids, 128, 64) is ids
    color = colorize(ids)
    assert (color[0, 0] == PALETTE[10]).all() and (color[5, 5] == 0).all()
    image = np.full(color.shape, 200, np.uint8)
    blend = overlay(image, color, 0.5)
    assert blend.shape == image.shape
    assert abs(int(blend[0, 0, 0]) - (int(PALETTE[10][0]) + 200) // 2) <= 1
    with pytest.raises(ValueError):
        overlay(image[:10], color)
