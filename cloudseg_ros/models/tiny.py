"""Smallest instances of each architecture: for unit tests and smoke runs (seconds on
CPU), never for serving."""

from __future__ import annotations

from typing import Any

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "icnet": {
        "type": "icnet",
        "low_widths": [8, 8, 16],
        "low_blocks": [1, 1],
        "pool_windows": [2],
        "mid_widths": [4, 8, 8],
        "high_widths": [4, 8, 8],
        "fuse_width": 8,
        "detail_width": 8,
        "head_refine": True,
    },
    "carn_m": {"type": "carn_m", "width": 8, "groups": 2, "blocks": 2, "units": 2},
    "espcn": {"type": "espcn", "widths": [8, 8]},
    "bilinear": {"type": "bilinear"},
    "bicubic": {"type": "bicubic"},
}


def write_tiny_weights(directory: Any, seed: int = 0) -> None:
    """Untrained tiny segmenter ("icnet") and SR models ("carn_m", "espcn",
    "carn_m_cloudseg"), saved and exported like shipped weights."""
    import torch

    from cloudseg_ros.engines.export import export_model
    from cloudseg_ros.models import build_model
    from cloudseg_ros.models.checkpoint import save_model

    torch.manual_seed(seed)
    models = {"icnet": ("segmenter", "icnet"), "carn_m": ("sr", "carn_m"), "espcn": ("sr", "espcn")}
    models["carn_m_cloudseg"] = ("sr", "carn_m")
    for name, (role, arch) in models.items():
        model = build_model(TINY_CONFIGS[arch])
        for m in model.modules():  # non-trivial BN statistics: exercises BN folding at export
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
        save_model(directory, name, role, TINY_CONFIGS[arch], model.eval())
        export_model(directory, name)
