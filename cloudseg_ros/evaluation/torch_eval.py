"""Quick torch-side validation used at the end of each training step (few frames, no
engines): mIoU of the segmenter on SR'd frames and PSNR/SSIM of the SR frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cloudseg_ros.metrics import ConfusionMatrix, psnr, ssim
from cloudseg_ros.train.data import FrameBank, to_nchw


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float32 NCHW [0, 1] (one frame) -> uint8 HWC, rounded as an 8-bit frame would be."""
    return np.clip(image[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


@torch.no_grad()
def validate(segmenter: Any | None, sr: Any | None, bank: FrameBank) -> dict[str, Any]:
    """Metrics over ``bank``: SR (None = the HR frame itself) then segmenter (optional)."""
    cm = ConfusionMatrix()
    psnrs, ssims = [], []
    for hr_u8, lr_u8, labels in zip(bank.hr, bank.lr, bank.labels, strict=True):
        lr = torch.from_numpy(to_nchw(lr_u8))
        if sr is None:
            hr = torch.from_numpy(to_nchw(hr_u8))
        else:
            hr = sr(lr)  # the pipeline feeds the float SR frame to the segmenter
            sr_u8 = to_uint8(hr.numpy())  # image quality of the 8-bit frame a viewer would get
            psnrs.append(psnr(hr_u8, sr_u8))
            ssims.append(ssim(hr_u8, sr_u8))
        if segmenter is not None:
            cm.update(labels, segmenter.predict(hr, lr)[0].numpy())
    out: dict[str, Any] = {"frames": len(bank)}
    if segmenter is not None:
        out.update(miou=cm.miou(), per_class=cm.per_class())
    if psnrs:
        out.update(psnr=float(np.mean(psnrs)), ssim=float(np.mean(ssims)))
    return out
