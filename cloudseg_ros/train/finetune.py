"""Step 3: analytics-aware fine-tuning of the base SR model (CloudSeg §3.1).

loss = L1(SR(LR), HR) + lam * task, with the trained segmenter frozen:
* task = "ce": class-weighted cross entropy of segmenter(SR(LR), LR) against HR labels;
* task = "kl": label-free, KL(segmenter(HR, LR) || segmenter(SR(LR), LR)), the segmenter's
  own HR prediction as the target (usable on unlabelled frames).
Large patches (the segmenter's training crop, as the paper says: small patches do not
give the segmenter enough context to produce a meaningful gradient). With an ``uplink``
section, a share of the LR frames is what the cloud decodes after the robot's H.264
encoder (:mod:`cloudseg_ros.train.uplink`), so the model learns the artefacts it will see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cloudseg_ros.engines.tensorrt_engine import file_sha256
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.checkpoint import checkpoint_config, load_checkpoint
from cloudseg_ros.train.data import Batch, CropSampler, FrameBank, FrameSpec
from cloudseg_ros.train.loop import LoopConfig, fit, pick_device
from cloudseg_ros.train.seg import cross_entropy, enet_class_weights


def task_loss(
    segmenter: nn.Module,
    sr: torch.Tensor,
    hr: torch.Tensor,
    lr: torch.Tensor,
    labels: torch.Tensor,
    mode: str,
    weights: torch.Tensor | None,
) -> torch.Tensor:
    """How much worse the segmenter does on SR than it should (see module docstring)."""
    logits = segmenter(sr, lr)["out"]
    if mode == "ce":
        up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
        return cross_entropy(up, labels, weights)
    if mode == "kl":
        with torch.no_grad():
            target = F.log_softmax(segmenter(hr, lr)["out"], dim=1)
        return F.kl_div(F.log_softmax(logits, dim=1), target, log_target=True, reduction="batchmean") / (
            logits.shape[-1] * logits.shape[-2]
        )
    raise ConfigError(f"unknown task loss {mode!r}; must be 'ce' or 'kl'")


def finetune_sr(cfg: dict[str, Any], seed: int, out: Path) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """Fine-tune ``cfg["init"]`` (a base SR checkpoint) against ``cfg["segmenter"]``; both
    are looked up in ``out`` unless given as paths. Returns (SR model, segmenter, summary)."""
    device = pick_device()
    init = _checkpoint(cfg["init"], out)
    seg_path = _checkpoint(cfg["segmenter"], out)
    model = load_checkpoint(init).to(device)
    cfg["model"] = checkpoint_config(init)  # the fine-tuned model is the base architecture
    segmenter = load_checkpoint(seg_path).to(device).eval()
    # Segmenters carry low_channels (the LR branch's width); SR models do not. Swapped, the
    # step failed inside its first iteration with a shape error.
    if hasattr(model, "low_channels"):
        raise ConfigError(
            f"init: {init} is a segmenter; fine-tuning starts from an SR checkpoint (e.g. carn_m)"
        )
    if not hasattr(segmenter, "low_channels"):
        raise ConfigError(f"segmenter: {seg_path} is not a segmenter checkpoint (e.g. icnet)")
    for p in segmenter.parameters():
        p.requires_grad_(False)
    lam = float(cfg.get("lam", 0.1))
    mode = str(cfg.get("task", "ce"))
    bank = FrameBank(FrameSpec.from_config(cfg["data"]))
    uplink = None
    if cfg.get("uplink"):
        from cloudseg_ros.train.uplink import UplinkSpec, degrade_bank

        uplink = degrade_bank(bank, UplinkSpec.from_config(cfg["uplink"]), seed)
    weights = torch.from_numpy(enet_class_weights(bank.class_frequencies(segmenter.num_classes))).to(device)
    sampler = CropSampler(bank, tuple(cfg["crop"]), int(cfg["batch_size"]), seed)

    def step(batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        hr = torch.from_numpy(batch.hr).to(device)
        lr = torch.from_numpy(batch.lr).to(device)
        labels = torch.from_numpy(batch.labels).to(device)
        sr = model(lr)
        l1 = F.l1_loss(sr, hr)
        task = task_loss(segmenter, sr, hr, lr, labels, mode, weights)
        return l1 + lam * task, {"l1": float(l1.detach()), "task": float(task.detach())}

    model.train()
    last = fit(model.parameters(), step, iter(sampler), LoopConfig.from_config(cfg["optim"]), name="finetune")
    summary = {
        "train_frames": len(bank),
        "init": init.name,
        "segmenter": seg_path.name,
        # which files exactly: the cloud warns when it serves this model with another segmenter
        "init_sha256": file_sha256(init),
        "segmenter_sha256": file_sha256(seg_path),
        "lam": lam,
        "task": mode,
        "uplink": uplink,
        "final": last,
    }
    return model.eval().cpu(), segmenter.cpu(), summary


def _checkpoint(ref: str, out: Path) -> Path:
    path = Path(ref)
    if path.suffix != ".pt":
        path = Path(out) / f"{ref}.pt"
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} not found; run the earlier training step first")
    return path
