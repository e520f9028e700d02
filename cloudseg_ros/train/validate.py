"""Check a training config before any frame is rendered.

A training step renders its frame bank first (800-1000 frames, minutes when not cached) and
reads most of its config only after that: a typo in a ``--set`` key was silently ignored (and
recorded as if it applied), and a bad value failed minutes later with a traceback. Every key
a step reads is listed here; a config with another key, or a value the step cannot use, is
refused naming the key.
"""

from __future__ import annotations

import math
from typing import Any

from cloudseg_ros.errors import ConfigError

COMMON = {"name", "role", "data", "val", "crop", "batch_size", "optim"}
STEP_KEYS = {
    "seg": COMMON | {"model", "class_weight_cap", "aux_weight", "rare_fraction", "rare_below"},
    "sr": COMMON | {"model"},
    # The fine-tuned model is its init's architecture: no ``model`` section.
    "finetune": COMMON | {"init", "segmenter", "task", "lam", "uplink"},
}
FRAME_KEYS = {"seeds", "frames", "width", "height", "variant"}
TASKS = ("ce", "kl")


def validate_config(step: str, cfg: dict[str, Any]) -> None:
    """Raise ConfigError naming the first key of ``cfg`` that step ``step`` cannot use."""
    from cloudseg_ros.train.data import SCALE, FrameSpec
    from cloudseg_ros.train.loop import LoopConfig

    if step not in STEP_KEYS:
        raise ConfigError(f"unknown training step {step!r}; must be one of {', '.join(STEP_KEYS)}")
    _known(step, cfg, STEP_KEYS[step])
    for section in ("data", "val"):
        if section == "val" and not cfg.get("val"):  # no validation section: the runner skips it
            continue
        _known(section, _section(cfg, section), FRAME_KEYS)
        try:
            spec = FrameSpec.from_config(cfg[section])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{section}: {exc!r} (seeds: {{start, stop}} or a list; frames: a list)"
            ) from None
        if not spec.seeds or not spec.frames or spec.width < SCALE or spec.height < SCALE:
            raise ConfigError(f"{section}: no frames to render ({spec})")
    try:
        loop = LoopConfig.from_config(_section(cfg, "optim"))  # refuses unknown keys itself
    except TypeError as exc:
        raise ConfigError(f"optim: {exc}") from None
    _integer("optim.iters", loop.iters, 1)
    _integer("optim.log_every", loop.log_every, 1)
    _integer("optim.warmup", loop.warmup, 0)
    _number("optim.lr", loop.lr, 0.0, exclusive=True)
    _number("optim.weight_decay", loop.weight_decay, 0.0)
    _number("optim.min_lr_ratio", loop.min_lr_ratio, 0.0, 1.0)
    if loop.grad_clip is not None:  # 0 or None: no clipping
        _number("optim.grad_clip", loop.grad_clip, 0.0)
    _integer("batch_size", cfg.get("batch_size"), 1)
    crop = cfg.get("crop")
    data = FrameSpec.from_config(cfg["data"])
    if not (isinstance(crop, list) and len(crop) == 2 and all(_is_int(c) and c > 0 for c in crop)):
        raise ConfigError(f"crop: {crop!r} is not [width, height] in pixels")
    if crop[0] % SCALE or crop[1] % SCALE or crop[0] > data.width or crop[1] > data.height:
        raise ConfigError(
            f"crop: {crop} must be multiples of {SCALE} within the frames ({data.width}x{data.height})"
        )
    if step == "finetune":
        _finetune(cfg)
    else:
        _model(cfg)
    for key, low, high in (("rare_fraction", 0.0, 1.0), ("rare_below", 0.0, 1.0), ("aux_weight", 0.0, None)):
        if key in cfg:
            _number(key, cfg[key], low, high)
    if "class_weight_cap" in cfg:
        _number("class_weight_cap", cfg["class_weight_cap"], 0.0, exclusive=True)


def _finetune(cfg: dict[str, Any]) -> None:
    from cloudseg_ros.train.data import FrameSpec
    from cloudseg_ros.train.uplink import UplinkSpec

    if cfg.get("task", "ce") not in TASKS:
        raise ConfigError(f"task: {cfg.get('task')!r}; must be one of {', '.join(TASKS)}")
    _number("lam", cfg.get("lam", 0.1), 0.0)
    for key in ("init", "segmenter"):
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            raise ConfigError(f"{key}: a checkpoint name in --out or a .pt path, not {cfg.get(key)!r}")
    if cfg.get("uplink"):
        try:
            uplink = UplinkSpec.from_config(_section(cfg, "uplink"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"uplink: {exc}") from None
        # A received frame is decoded after `warmup` frames `stride` apart before it: a
        # training frame earlier than that failed only after every frame was rendered.
        first, need = min(FrameSpec.from_config(cfg["data"]).frames), uplink.warmup * uplink.stride
        if uplink.fraction > 0 and first < need:
            raise ConfigError(
                f"uplink: training frame {first} has no {uplink.warmup} frames {uplink.stride} apart before "
                f"it; with uplink frames, data.frames must start at {need} or later"
            )


def _model(cfg: dict[str, Any]) -> None:
    """Build the model once, untrained: its architecture's own checks run now."""
    from cloudseg_ros.models import build_model

    model = _section(cfg, "model")
    try:
        build_model(model)
    except ConfigError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, RuntimeError) as exc:
        raise ConfigError(f"model {model}: {exc}") from None


def _known(where: str, cfg: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _section(cfg: dict[str, Any], key: str) -> dict[str, Any]:
    value = cfg.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: a section of keys, not {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(key: str, value: Any, low: int) -> None:
    if not _is_int(value) or value < low:
        raise ConfigError(f"{key}: {value!r}; must be an integer >= {low}")


def _number(key: str, value: Any, low: float, high: float | None = None, exclusive: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if exclusive else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"> {low}" if exclusive else f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{key}: {value!r}; must be a number {bound}")
