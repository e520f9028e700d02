"""Training: data alignment, losses, schedule, configs, and the CLI train -> export path
on tiny toy frames (the scene renderer is swapped for a toy one to stay fast)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cloudseg_ros.cli import main
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.tiny import write_tiny_weights
from cloudseg_ros.train import data as data_module
from cloudseg_ros.train.config import apply_override, load_config
from cloudseg_ros.train.data import CropSampler, FrameBank, FrameSpec, check_disjoint, downscale
from cloudseg_ros.train.loop import LoopConfig, lr_factor
from cloudseg_ros.train.seg import enet_class_weights, segmentation_loss, subsample_labels
from cloudseg_ros.train.toy import toy_frame
from cloudseg_ros.train.uplink import UplinkSpec, degrade_bank, received_lr


def _bank(n: int = 2, w: int = 128, h: int = 64) -> FrameBank:
    frames = [toy_frame(0, i, w, h) for i in range(n)]
    return FrameBank.from_arrays([f[0] for f in frames], [f[1] for f in frames])


def test_crops_keep_lr_equal_to_the_robots_downscale() -> None:
    """An aligned LR crop is exactly what the robot would send for that HR crop."""
    sampler = CropSampler(_bank(), (64, 32), batch_size=1, seed=3)
    for _ in range(5):
        hr, lr, labels = sampler.sample()
        assert hr.shape == (32, 64, 3) and labels.shape == (32, 64) and lr.shape == (8, 16, 3)
        np.testing.assert_array_equal(lr, downscale(np.ascontiguousarray(hr), 4))


def test_crop_must_be_scale_aligned() -> None:
    with pytest.raises(ValueError, match="multiple"):
        CropSampler(_bank(), (62, 32), 1, 0)


def test_eval_seeds_must_not_overlap_training() -> None:
    check_disjoint(range(200), [1000, 1001])
    with pytest.raises(ConfigError, match="used for training"):
        check_disjoint(range(200), [5, 1000])


def test_class_weights_favour_rare_classes() -> None:
    freq = np.array([0.6, 0.3, 0.09, 0.01, 0.0])
    w = enet_class_weights(freq, cap=10.0)
    assert w[0] < w[1] < w[2] < w[3]
    assert np.isclose(w[freq > 0].mean(), 1.0)


def test_subsampled_labels_take_pixel_centres() -> None:
    labels = torch.arange(64).view(1, 8, 8)
    sub = subsample_labels(labels, torch.Size([2, 2]))
    assert sub.tolist() == [[[18, 22], [50, 54]]]


def test_loss_ignores_255_and_weights_aux() -> None:
    logits = {"out": torch.zeros(1, 3, 4, 4), "aux_low": torch.zeros(1, 3, 2, 2)}
    labels = torch.full((1, 8, 8), 255, dtype=torch.long)
    labels[0, 0, 0] = 1
    loss = segmentation_loss(logits, labels, None, aux_weight=0.0)
    assert np.isclose(float(loss), np.log(3), atol=1e-5)


def test_schedule_warms_up_then_decays() -> None:
    cfg = LoopConfig(iters=100, warmup=10, min_lr_ratio=0.1)
    values = [lr_factor(i, cfg) for i in range(100)]
    assert values[0] < values[9] == 1.0
    assert values[10] > values[50] > values[99] >= 0.1


def test_configs_are_data() -> None:
    for step in ("seg", "sr", "finetune"):
        cfg = load_config(step)
        assert cfg["data"]["seeds"]["stop"] <= 1000  # training seeds never reach the eval range
    cfg = {"optim": {"iters": 5}}
    apply_override(cfg, "optim.iters=7")
    apply_override(cfg, "lam=0.5")
    assert cfg == {"optim": {"iters": 7}, "lam": 0.5}
    with pytest.raises(ConfigError):
        apply_override(cfg, "no-equals-sign")
    with pytest.raises(ConfigError, match="unknown optim keys"):
        LoopConfig.from_config({"iters": 1, "momentum": 0.9})


def test_cli_trains_all_steps_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_module, "render", toy_frame)
    common = [
        "--out", str(tmp_path), "--iters", "2",
        "--set", "data.width=128", "--set", "data.height=64", "--set", "data.seeds=[0, 1]",
        "--set", "val.width=128", "--set", "val.height=64", "--set", "val.seeds=[900]",
        "--set", "batch_size=2",
    ]  # fmt: skip
    tiny = json.dumps({"type": "icnet", "low_widths": [8, 8, 16], "mid_widths": [4, 8, 8]})
    assert main(["train", "seg", *common, "--set", "crop=[64, 32]", "--set", f"model={tiny}"]) == 0
    assert main(["train", "sr", *common, "--set", "crop=[32, 32]", "--set", "model.width=8"]) == 0
    assert main(["train", "finetune", *common, "--set", "crop=[64, 32]", "--set", "lam=0.5"]) == 0
    assert main(["export", "--weights", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "carn_m_cloudseg.json").read_text())
    assert meta["training"]["summary"]["lam"] == 0.5 and meta["training"]["seed"] == 0
    assert "cloudseg train finetune" in meta["training"]["command"] or meta["training"]["command"]
    assert meta["model"]["width"] == 8  # the fine-tuned model is the base architecture
    for name in ("icnet", "icnet_decode", "carn_m", "carn_m_cloudseg"):
        path = tmp_path / f"{name}.onnx"
        owner = json.loads((tmp_path / f"{name.replace('_decode', '')}.json").read_text())
        assert owner["sha256"][path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    seg = json.loads((tmp_path / "icnet.json").read_text())
    assert seg["training"]["data_seeds"]["data"]["seeds"] == [0, 1]
    assert {"hr", "bilinear"} <= set(seg["training"]["validation"])  # the demo default is measured too
    # What changes the weights bit for bit is recorded; the fine-tuned model names its inputs'
    # files exactly, and serving it with another segmenter is said.
    assert seg["training"]["threads"] >= 1 and seg["training"]["device"] in ("cpu", "cuda")
    summary = meta["training"]["summary"]
    digest = {n: hashlib.sha256((tmp_path / f"{n}.pt").read_bytes()).hexdigest() for n in ("icnet", "carn_m")}
    assert summary["segmenter_sha256"] == digest["icnet"] and summary["init_sha256"] == digest["carn_m"]
    from cloudseg_ros.segmenter.pipeline import tuned_for_another

    assert tuned_for_another(tmp_path, "carn_m_cloudseg", "icnet") is None
    assert (
        main(["train", "seg", *common, "--seed", "1", "--set", "crop=[64, 32]", "--set", f"model={tiny}"])
        == 0
    )
    assert "fine-tuned through another segmenter" in tuned_for_another(tmp_path, "carn_m_cloudseg", "icnet")


@pytest.mark.parametrize(
    "step,override,problem",
    [
        ("finetune", "lamda=0.5", "unknown key(s) lamda"),
        ("seg", "data.seed=[1000]", "data: unknown key(s) seed"),
        ("seg", "optim.iters=0", "optim.iters: 0; must be an integer >= 1"),
        ("sr", "optim.iters=2.5", "optim.iters: 2.5"),
        ("sr", "optim.log_every=0", "optim.log_every"),
        ("sr", "optim.lr=fast", "optim.lr: 'fast'"),
        ("sr", "optim.momentum=0.9", "unknown optim keys"),
        ("sr", "crop=[30, 30]", "crop: [30, 30] must be multiples of 4"),
        ("sr", "crop=192", "crop: 192 is not [width, height]"),
        ("sr", "crop=[2048, 64]", "within the frames"),
        ("seg", "batch_size=0", "batch_size: 0"),
        ("sr", "model.groups=0", "model"),
        ("sr", "model.type=resnet", "unknown model type 'resnet'"),
        ("finetune", "task=mse", "task: 'mse'; must be one of ce, kl"),
        ("finetune", "lam=-1", "lam: -1"),
        ("finetune", "model.width=8", "unknown key(s) model"),
        ("finetune", "uplink.codec=vp9", "uplink"),
        ("finetune", "uplink.fraction=0.5", "data.frames must start at"),
        ("seg", "rare_fraction=2", "rare_fraction: 2"),
    ],
)  # fmt: skip
def test_a_config_the_step_cannot_use_is_refused_before_any_frame(
    step: str, override: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A typo in a key was ignored (and recorded as if applied), a bad value failed minutes
    later, after the frames were rendered, with a traceback."""

    def no_frames(*_args):
        raise AssertionError("rendered a frame before checking the config")

    monkeypatch.setattr(data_module, "render", no_frames)
    assert main(["train", step, "--out", str(tmp_path), "--set", override]) == 1
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err, err
    assert not list(tmp_path.iterdir())


def test_configs_the_loops_take_stay_accepted() -> None:
    """What the training loop took before the checks: no clipping (grad_clip 0 or null), no
    validation section; and every shipped config for its step."""
    from cloudseg_ros.train.config import CONFIG_DIR
    from cloudseg_ros.train.validate import validate_config

    for overrides in (["optim.grad_clip=0"], ["optim.grad_clip=null"], ["val={}"], ["val=null"]):
        validate_config("sr", load_config("sr", None, overrides))
    for step in ("seg", "sr", "finetune"):
        validate_config(step, load_config(step))
    validate_config("sr", load_config("sr", CONFIG_DIR / "espcn.yaml"))


def test_a_seed_numpy_cannot_take_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "seg", "--seed", "-1"])
    assert "--seed: '-1': must be in 0 .. 4294967295" in capsys.readouterr().err


def test_finetune_needs_its_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(data_module, "render", toy_frame)
    assert main(["train", "finetune", "--out", str(tmp_path), "--iters", "1"]) == 1
    # The two checkpoints swapped: named, before any frame is rendered.
    write_tiny_weights(tmp_path)
    monkeypatch.setattr(data_module, "render", lambda *a: pytest.fail("rendered a frame"))
    capsys.readouterr()
    assert main(["train", "finetune", "--out", str(tmp_path), "--set", "init=icnet"]) == 1
    assert "icnet.pt is a segmenter" in capsys.readouterr().err
    assert main(["train", "finetune", "--out", str(tmp_path), "--set", "segmenter=carn_m"]) == 1
    assert "carn_m.pt is not a segmenter" in capsys.readouterr().err


def test_rare_class_crops_contain_the_rare_class() -> None:
    """With rare_fraction=1 every crop holds a pixel of some class under the threshold."""
    frames = [toy_frame(0, i, 128, 64) for i in range(3)]
    for _, labels in frames:
        labels[10:12, 100:102] = 18  # a tiny "bicycle" in each frame
    bank = FrameBank.from_arrays([f[0] for f in frames], [f[1] for f in frames])
    sampler = CropSampler(bank, (32, 16), 1, seed=0, rare_fraction=1.0, rare_below=0.001)
    assert set(sampler.anchors) == {18}
    for _ in range(10):
        _, _, labels = sampler.sample()
        assert (labels == 18).any()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_uplink_frames_are_what_the_cloud_decodes() -> None:
    """The degraded LR frame went through the real encoder and decoder: the lower the
    bitrate, the further from the clean downscale; never the clean frame itself."""
    spec = UplinkSpec()
    clean = downscale(data_module.render(3, 12, 256, 128, "default")[0])
    low = received_lr(3, 12, 256, 128, "default", spec, 20)
    high = received_lr(3, 12, 256, 128, "default", spec, 2000)
    assert low.shape == high.shape == clean.shape and low.dtype == np.uint8
    assert 15 < _psnr(low, clean) < _psnr(high, clean) < 60
    assert np.array_equal(received_lr(3, 12, 256, 128, "default", spec, 20), low), "deterministic"


def test_uplink_degrades_the_configured_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_module, "render", toy_frame)
    bank = FrameBank(FrameSpec(seeds=(0, 1, 2, 3), frames=(6, 8), width=128, height=64), progress=False)
    before = [lr.copy() for lr in bank.lr]
    summary = degrade_bank(bank, UplinkSpec(fraction=1.0, bitrates_kbps=(30.0, 30.0)), seed=0)
    assert summary["frames"] == summary["of"] == 8 and summary["kbps_median"] == pytest.approx(30.0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, bank.lr, strict=True))
    assert degrade_bank(bank, UplinkSpec(fraction=0.0), seed=0)["frames"] == 0
    early = FrameBank(FrameSpec(seeds=(0,), frames=(2,), width=128, height=64), progress=False)
    with pytest.raises(ConfigError, match="frames >= 6"):
        degrade_bank(early, UplinkSpec(fraction=1.0), seed=0)


@pytest.mark.parametrize(
    "cfg",
    [{"codec": "jpeg"}, {"bitrates_kbps": [500, 40]}, {"fraction": 1.5}, {"stride": 0}, {"bitrate": 40}],
)
def test_uplink_config_errors(cfg: dict) -> None:
    with pytest.raises(ConfigError, match="uplink"):
        UplinkSpec.from_config(cfg)
