"""Where the package's installed files are: config, launch, shipped weights.

Works the same in a plain venv (``<venv>/share/cloudseg_ros``), on a ROS install
(the ament index), and in a source checkout (``config/`` beside the package).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cloudseg_ros.errors import ConfigError

PACKAGE = "cloudseg_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The package's share directory (holds config/ and launch/)."""
    # A checkout first (config/ and launch/ beside the package): code and config of one tree.
    # Installed, that folder is site-packages, which has neither.
    candidates = [_SOURCE_ROOT, Path(sys.prefix) / "share" / PACKAGE]
    candidates += [prefix / "share" / PACKAGE for prefix in install_prefixes()]
    for c in candidates:
        if (c / "config").is_dir() and (c / "launch").is_dir():
            return c
    raise ConfigError(
        f"cannot find the {PACKAGE} config folder (looked in {', '.join(map(str, candidates))})"
    )


def install_prefixes() -> list[Path]:
    """The ROS install prefixes of the environment (``AMENT_PREFIX_PATH``, set by sourcing a
    ROS install or colcon workspace), in order."""
    return [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]


def config_file(name: str) -> Path:
    path = share_dir() / "config" / name
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return path


def weights_dir() -> Path:
    """The model files shipped inside the Python package."""
    return Path(__file__).resolve().parent / "weights"
