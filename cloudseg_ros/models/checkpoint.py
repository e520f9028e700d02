"""Checkpoints and their metadata: ``<name>.pt`` (model config + state dict) and
``<name>.json`` (model config, role, training command/config/seed/data seeds, metrics,
file hashes). The shipped ones live in ``cloudseg_ros/weights``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.paths import PACKAGE
from cloudseg_ros.paths import weights_dir as _package_weights

SHIPPED_WEIGHTS_DIR = _package_weights()


def weights_dir(path: str | Path | None) -> Path:
    """``path`` or the shipped weights directory when None."""
    return SHIPPED_WEIGHTS_DIR if path is None else Path(path)


def is_package_weights(directory: str | Path) -> bool:
    """Whether ``directory`` is a cloudseg_ros package's weights folder: the installed one the
    commands load by default, or a source checkout's ``cloudseg_ros/weights`` (what `make setup`
    installs). Checkpoints there are the shipped models, which training must not silently
    replace."""
    d = Path(directory).resolve()
    if d == SHIPPED_WEIGHTS_DIR.resolve():
        return True
    return d.name == "weights" and d.parent.name == PACKAGE and (d.parent / "__init__.py").is_file()


def save_checkpoint(path: Path, model_cfg: dict[str, Any], model: Any) -> None:
    import torch

    # fp16 on disk halves the shipped size; every consumer (export, torch engine,
    # fine-tuning) loads it back as fp32, so all of them see the same rounded weights.
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": dict(model_cfg), "state_dict": state}, path)


def load_checkpoint(path: Path) -> Any:
    """Rebuild the model of a ``.pt`` checkpoint, in eval mode on CPU."""
    import torch

    from cloudseg_ros.models import build_model

    if not Path(path).is_file():
        raise ConfigError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(data["model"])
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
        )
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot load checkpoint {path}: {exc}") from exc
    return model.eval()


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The model config stored in a ``.pt`` checkpoint (without building the model)."""
    import torch

    try:
        return dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    except Exception as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from exc


def read_metadata(directory: Path, name: str) -> dict[str, Any]:
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"model metadata not found: {path} (train and export it, see weights/README.md)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read model metadata {path}: {exc}") from exc


def write_metadata(directory: Path, name: str, metadata: dict[str, Any]) -> Path:
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return path


def save_model(
    directory: Path, name: str, role: str, model_cfg: dict[str, Any], model: Any, **extra: Any
) -> Path:
    """Write ``<name>.pt`` and ``<name>.json`` (role, model config, ``extra`` fields): what
    ``cloudseg train`` leaves behind and ``cloudseg export`` reads."""
    directory = Path(directory)
    meta: dict[str, Any] = {"name": name, "role": role, "model": dict(model_cfg), **extra}
    previous = directory / f"{name}.json"
    if previous.is_file():
        # The export record of the checkpoint this one replaces stays: its ONNX files are still
        # there and are now stale, and the record is what makes serving them say so.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            record = json.loads(previous.read_text())
            meta.update({k: record[k] for k in ("files", "sha256") if k in record})
    save_checkpoint(directory / f"{name}.pt", model_cfg, model)
    if hasattr(model, "low_channels"):  # segmenters: what engines need to know about the graph
        meta["low_channels"] = int(model.low_channels)
        meta["multiple"] = int(model.multiple)
    write_metadata(directory, name, meta)
    return directory / f"{name}.pt"
