"""Architectures: tiny instances, output shapes/ranges, key-frame reuse equivalence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models import MODEL_REGISTRY, build_model
from cloudseg_ros.models.tiny import TINY_CONFIGS

TINY_ICNET = TINY_CONFIGS["icnet"]
TINY_SR = {k: v for k, v in TINY_CONFIGS.items() if k != "icnet"}


def test_registry_knows_every_architecture() -> None:
    assert {"icnet", "carn_m", "espcn", "bilinear", "bicubic"} <= set(MODEL_REGISTRY)


def test_unknown_model_and_bad_option_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown model type"):
        build_model({"type": "nope"})
    with pytest.raises(ConfigError, match="bad options"):
        build_model({"type": "carn_m", "colour": 3})


def test_icnet_branch_resolutions_and_ids() -> None:
    torch.manual_seed(0)
    model = build_model(TINY_ICNET).eval()
    hr, lr = torch.rand(2, 3, 64, 128), torch.rand(2, 3, 16, 32)
    out = model(hr, lr)
    assert out["out"].shape == (2, 19, 16, 32)  # 1/4 of HR: where the head classifies
    assert out["aux_mid"].shape == (2, 19, 8, 16)  # label guidance at 1/8
    assert out["aux_low"].shape == (2, 19, 4, 8)  # and at 1/16
    assert model.encode_low(lr).shape == (2, 16, 2, 4)  # deep features at 1/32 of HR
    ids = model.predict(hr, lr)
    assert ids.shape == (2, 64, 128) and ids.dtype == torch.uint8 and int(ids.max()) < 19


def test_icnet_half_head_classifies_at_half_resolution() -> None:
    """fine_width > 0 moves the output to 1/2 of HR; the 1/4 head becomes label guidance.
    The default (0) builds no half head: the shipped checkpoint has no such weights."""
    model = build_model({**TINY_ICNET, "fine_width": 4}).eval()
    out = model(torch.rand(1, 3, 64, 128), torch.rand(1, 3, 16, 32))
    assert out["out"].shape == (1, 19, 32, 64) and out["aux_high"].shape == (1, 19, 16, 32)
    assert model.predict(torch.rand(1, 3, 64, 128), torch.rand(1, 3, 16, 32)).shape == (1, 64, 128)
    assert not any(name.startswith("fine_") for name, _ in build_model(TINY_ICNET).named_parameters())


def test_icnet_half_head_places_an_hr_pixel_at_its_half_pixel() -> None:
    """A one-pixel change of the HR frame moves the 1/2 logits at its own 1/2 pixel."""
    torch.manual_seed(0)
    model = build_model({**TINY_ICNET, "fine_width": 4}).eval()
    hr, lr = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 16, 16)
    bumped = hr.clone()
    bumped[..., 33, 33] += 1.0
    with torch.no_grad():
        delta = (model(bumped, lr)["out"] - model(hr, lr)["out"]).abs().sum(1)[0]
    assert delta.shape == (32, 32)
    row, col = divmod(int(delta.argmax()), 32)
    assert row in (15, 16, 17) and col in (15, 16, 17)


def test_icnet_decode_with_stored_features_equals_full_forward() -> None:
    """Key-frame reuse is exact when the stored features are the frame's own."""
    model = build_model(TINY_ICNET).eval()
    hr, lr = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        low = model.encode_low(lr)
        torch.testing.assert_close(model.decode(hr, low)["out"], model(hr, lr)["out"])


def test_icnet_low_branch_sees_only_the_lr_frame() -> None:
    """Data reuse: the deep branch depends on the received LR frame, not on the SR frame."""
    model = build_model(TINY_ICNET).eval()
    lr = torch.rand(1, 3, 16, 32)
    with torch.no_grad():
        a = model.decode(torch.rand(1, 3, 64, 128), model.encode_low(lr))["aux_low"]
        b = model.decode(torch.zeros(1, 3, 64, 128), model.encode_low(lr))["aux_low"]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", sorted(TINY_SR))
def test_sr_models_upscale_x4_into_unit_range(name: str) -> None:
    model = build_model(TINY_SR[name]).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 12, 20))
    assert out.shape == (2, 3, 48, 80)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_bilinear_model_matches_opencv_bilinear() -> None:
    """The bilinear row of Table 1 and the pipeline's cv2 resize are the same operation."""
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    ref = cv2.resize(lr.astype(np.float32) / 255, (96, 64), interpolation=cv2.INTER_LINEAR)
    with torch.no_grad():
        out = build_model({"type": "bilinear"})(torch.from_numpy(lr.transpose(2, 0, 1)[None] / 255.0).float())
    np.testing.assert_allclose(out[0].numpy().transpose(1, 2, 0), ref, atol=1e-5)


def test_learned_sr_starts_near_bilinear_and_can_change_it() -> None:
    """CARN-M predicts a residual over bilinear: zero last layer == bilinear exactly."""
    model = build_model(TINY_SR["carn_m"]).eval()
    conv = model.upsample[0]
    torch.nn.init.zeros_(conv.weight)
    torch.nn.init.zeros_(conv.bias)
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(lr), build_model({"type": "bilinear"})(lr))
        conv.bias.fill_(0.1)
        assert not torch.allclose(model(lr), build_model({"type": "bilinear"})(lr))


def test_carn_width_must_divide_into_groups() -> None:
    with pytest.raises(ConfigError):
        build_model({"type": "carn_m", "width": 10, "groups": 4})
