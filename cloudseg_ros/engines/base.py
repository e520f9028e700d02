"""What every inference engine offers: named float/int arrays in, named arrays out.

Engines run exported graphs (ONNX files, or the torch modules they came from), so the
pipeline does not care whether TensorRT, ONNX Runtime or torch serves a model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class GraphSource:
    """One exported graph: its ONNX file, and how to rebuild it in torch (for the torch
    engine and the equivalence tests). ``profile`` gives TensorRT's dynamic-shape range
    per input as (min, opt, max) shapes."""

    onnx_path: Path
    build_torch: Callable[[], object] | None = None
    profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    onnx_sha256: str | None = None  # as `cloudseg export` recorded it; None: not recorded

    @property
    def name(self) -> str:
        return self.onnx_path.stem


class Engine(ABC):
    """A loaded graph ready to run. ``name`` is what the mask message reports;
    ``max_batch`` is the largest batch (dim 0) one ``run`` accepts, None = any; ``on_gpu``:
    inputs and outputs cross to a device and back on every call."""

    name: str = "engine"
    max_batch: int | None = None
    on_gpu: bool = False

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on host arrays; returns host arrays keyed by output name."""
