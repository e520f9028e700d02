"""torch engine: the graph as the nn.Module it was exported from (fallback, and the
reference the other engines are tested against)."""

from __future__ import annotations

import numpy as np
import torch

from cloudseg_ros.engines.base import Engine


class TorchEngine(Engine):
    """Runs ``module(**inputs)``; outputs in the order of ``output_names``."""

    def __init__(self, module: torch.nn.Module, output_names: list[str], num_threads: int = 2) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, int(num_threads)))
        self.module = module.eval().to(self.device)
        self.output_names = list(output_names)
        self.name = f"torch-{self.device.type}"

    @torch.inference_mode()
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in feeds.items()}
        outputs = self.module(**inputs)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return {n: o.cpu().numpy() for n, o in zip(self.output_names, outputs, strict=True)}
