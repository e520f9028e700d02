"""torch engine: the graph as the nn.Module it was exported from. On a CUDA device it is
what serves when neither TensorRT nor ONNX Runtime CUDA is installed (FP16 there, like the
TensorRT engine); on CPU it is the fallback, and the FP32 reference the other engines are
tested against."""

from __future__ import annotations

import numpy as np
import torch

from cloudseg_ros.engines.base import Engine


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


class TorchEngine(Engine):
    """Runs ``module(**inputs)``; outputs in the order of ``output_names``, float outputs
    as float32 whatever the precision the module ran in.

    ``device`` None = CUDA when torch sees a GPU, else CPU. ``fp16`` halves weights and
    float inputs on CUDA only (CPU half convolutions are slower than float32)."""

    def __init__(
        self,
        module: torch.nn.Module,
        output_names: list[str],
        num_threads: int = 2,
        device: str | None = None,
        fp16: bool = False,
    ) -> None:
        self.device = torch.device(device or ("cuda" if cuda_available() else "cpu"))
        self.half = bool(fp16 and self.device.type == "cuda")
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, int(num_threads)))
        # cudnn.benchmark stays off: it autotunes every new (batch, size), and the first
        # frames of a new size or batch then take ~1 s, which robots read as congestion.
        module = module.eval().to(self.device)
        self.module = module.half() if self.half else module
        self.output_names = list(output_names)
        self.name = f"torch-{self.device.type}" + ("-fp16" if self.half else "")
        self.on_gpu = self.device.type == "cuda"

    def _input(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=True)
        return tensor.half() if self.half and tensor.is_floating_point() else tensor

    @torch.inference_mode()
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.module(**{k: self._input(v) for k, v in feeds.items()})
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        return {
            n: (o.float() if o.is_floating_point() else o).cpu().numpy()
            for n, o in zip(self.output_names, outputs, strict=True)
        }
