"""Training configs are data: YAML files under train/configs, overridable from the CLI
with ``--set key.sub=value`` (value parsed as YAML)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from cloudseg_ros.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STEPS = ("seg", "sr", "finetune")


def load_config(
    step: str, path: str | Path | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The YAML of ``step`` (or ``path``) with ``overrides`` applied."""
    path = Path(path) if path else CONFIG_DIR / f"{step}.yaml"
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse config {path}: {exc}") from exc
    for item in overrides or []:
        apply_override(cfg, item)
    return cfg


def apply_override(cfg: dict[str, Any], item: str) -> None:
    """``a.b.c=value``: set cfg["a"]["b"]["c"] = yaml(value), creating dicts on the way."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = cfg
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(extra)
    return out
