"""Engines: every engine present gives the torch masks; bad files fail clearly; the
TensorRT cache key logic works without TensorRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cloudseg_ros.engines import create_engine
from cloudseg_ros.engines.export import graph_source
from cloudseg_ros.engines.select import onnxruntime_status, tensorrt_status
from cloudseg_ros.engines.tensorrt_engine import build_settings, engine_cache_key, engine_cache_path
from cloudseg_ros.engines.torch_engine import TorchEngine, cuda_available
from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.tiny import write_tiny_weights

# Masks: argmax may flip where two logits tie to ~1e-6 (engines sum in another order);
# at most this fraction of pixels may differ. Float outputs: absolute tolerance. The
# reference is always torch on the CPU in float32.
MASK_TOLERANCE = 0.002
FLOAT_ATOL = 1e-4
# Half precision (TensorRT, torch CUDA): ~3 significant digits; CUDA float32 convolutions
# may use TF32 (10-bit mantissa) on Ampere and later.
MASK_TOLERANCE_HALF = 0.01
FLOAT_ATOL_GPU = 2e-3


def _tolerances(engine_name: str) -> tuple[float, float]:
    """(mask fraction, float atol) for an engine: CPU engines match to float32 rounding."""
    gpu = "cuda" in engine_name or "tensorrt" in engine_name
    half = "fp16" in engine_name
    return (MASK_TOLERANCE_HALF if half else MASK_TOLERANCE), (FLOAT_ATOL_GPU if gpu else FLOAT_ATOL)


def _reference(weights: Path, name: str, graph: str, outputs: list[str]) -> TorchEngine:
    return TorchEngine(graph_source(weights, name, graph).build_torch(), outputs, device="cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    write_tiny_weights(directory)
    return directory


def _engines_here() -> list[str]:
    kinds = ["torch"]
    if onnxruntime_status("cpu") is None or onnxruntime_status("cuda") is None:
        kinds.append("onnxruntime")
    if tensorrt_status() is None:
        kinds.append("tensorrt")
    return kinds


@pytest.mark.parametrize("kind", _engines_here())
def test_engine_masks_match_torch(weights: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    hr = rng.random((1, 3, 128, 192), dtype=np.float32)
    lr = torch.nn.functional.avg_pool2d(torch.from_numpy(hr), 4).numpy()
    ref = _reference(weights, "icnet", "segmenter", ["ids", "low"])
    eng = create_engine(graph_source(weights, "icnet", "segmenter"), kind, output_names=["ids", "low"])
    want, got = ref.run({"hr": hr, "lr": lr}), eng.run({"hr": hr, "lr": lr})
    mask_tol, atol = _tolerances(eng.name)
    assert got["ids"].shape == (1, 128, 192) and got["ids"].dtype == np.uint8
    assert got["low"].dtype == np.float32
    assert np.mean(got["ids"] != want["ids"]) <= mask_tol
    np.testing.assert_allclose(got["low"], want["low"], atol=atol * 10 if "fp16" in eng.name else atol)
    dec = create_engine(graph_source(weights, "icnet", "decode"), kind, output_names=["ids"])
    assert np.mean(dec.run({"hr": hr, "low": want["low"]})["ids"] != want["ids"]) <= mask_tol


@pytest.mark.parametrize("kind", _engines_here())
def test_engine_sr_matches_torch(weights: Path, kind: str) -> None:
    lr = np.random.default_rng(2).random((1, 3, 24, 40), dtype=np.float32)
    ref = _reference(weights, "carn_m", "sr", ["sr"]).run({"lr": lr})
    eng = create_engine(graph_source(weights, "carn_m", "sr"), kind, output_names=["sr"])
    got = eng.run({"lr": lr})
    assert got["sr"].shape == (1, 3, 96, 160) and got["sr"].dtype == np.float32
    np.testing.assert_allclose(got["sr"], ref["sr"], atol=_tolerances(eng.name)[1])


@pytest.mark.parametrize("fp16", [False, True])
def test_torch_precision_follows_the_device(weights: Path, fp16: bool) -> None:
    """FP16 only where it pays: on CUDA; a CPU torch engine stays float32 whatever is asked."""
    eng = create_engine(graph_source(weights, "carn_m", "sr"), "torch", output_names=["sr"], fp16=fp16)
    if cuda_available():
        assert eng.name == ("torch-cuda-fp16" if fp16 else "torch-cuda")
    else:
        assert eng.name == "torch-cpu"
    assert next(eng.module.parameters()).dtype == (
        torch.float16 if eng.name.endswith("fp16") else torch.float32
    )


def test_onnx_has_dynamic_size(weights: Path) -> None:
    """One exported file serves every frame size (multiples of 32)."""
    if onnxruntime_status("cpu") is not None:
        pytest.skip("onnxruntime not available")
    eng = create_engine(
        graph_source(weights, "icnet", "segmenter"), "onnxruntime", output_names=["ids", "low"]
    )
    for h, w in ((64, 64), (256, 512)):
        out = eng.run(
            {"hr": np.zeros((1, 3, h, w), np.float32), "lr": np.zeros((1, 3, h // 4, w // 4), np.float32)}
        )
        assert out["ids"].shape == (1, h, w) and out["ids"].dtype == np.uint8


def test_corrupt_model_file_names_the_file(weights: Path, tmp_path: Path) -> None:
    if onnxruntime_status("cpu") is not None:
        pytest.skip("onnxruntime not available")
    for f in weights.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    bad = tmp_path / "icnet.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ConfigError, match=r"icnet\.onnx"):
        create_engine(graph_source(tmp_path, "icnet", "segmenter"), "onnxruntime")
    bad.unlink()
    with pytest.raises(ConfigError, match=r"not found: .*icnet\.onnx"):
        create_engine(graph_source(tmp_path, "icnet", "segmenter"), "onnxruntime")


def test_corrupt_checkpoint_names_the_file(weights: Path, tmp_path: Path) -> None:
    for f in weights.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "icnet.pt").write_bytes(b"\x00garbage")
    source = graph_source(tmp_path, "icnet", "segmenter")
    with pytest.raises(ConfigError, match=r"icnet\.pt"):
        create_engine(source, "torch", output_names=["ids", "low"])


def test_unknown_or_unavailable_engine_is_a_config_error(weights: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        create_engine(graph_source(weights, "icnet", "segmenter"), "openvino")
    if tensorrt_status() is not None:
        with pytest.raises(ConfigError, match="tensorrt"):
            create_engine(graph_source(weights, "icnet", "segmenter"), "tensorrt")


def test_auto_picks_the_fastest_available(weights: Path) -> None:
    eng = create_engine(graph_source(weights, "carn_m", "sr"), "auto", output_names=["sr"])
    if tensorrt_status() is None:
        assert eng.name.startswith("tensorrt")
    elif onnxruntime_status("cuda") is None:
        assert eng.name == "onnxruntime-cuda"
    elif cuda_available():  # a GPU without TensorRT or ORT CUDA: torch serves on it
        assert eng.name.startswith("torch-cuda")
    elif onnxruntime_status("cpu") is None:
        assert eng.name == "onnxruntime-cpu"
    else:
        assert eng.name.startswith("torch")


def test_tensorrt_cache_key_changes_with_each_input() -> None:
    base = engine_cache_key("a" * 64, "10.3.0", "NVIDIA H100", True)
    assert base == engine_cache_key("a" * 64, "10.3.0", "NVIDIA H100", True)
    variants = {
        engine_cache_key("b" * 64, "10.3.0", "NVIDIA H100", True),
        engine_cache_key("a" * 64, "10.4.0", "NVIDIA H100", True),
        engine_cache_key("a" * 64, "10.3.0", "Tesla V100", True),
        engine_cache_key("a" * 64, "10.3.0", "NVIDIA H100", False),
        # The same model built for a wider batch range (as when the cloud began batching robots).
        engine_cache_key("a" * 64, "10.3.0", "NVIDIA H100", True, build_settings({"lr": ((1,), (1,), (8,))})),
    }
    assert base not in variants and len(variants) == 5
    one, eight = ({"lr": ((1, 3, 64, 128), (n, 3, 128, 256), (n, 3, 256, 512))} for n in (1, 8))
    assert build_settings(one) != build_settings(eight) and build_settings(one) == build_settings(dict(one))


def test_tensorrt_cache_path_follows_model_bytes(tmp_path: Path) -> None:
    model = tmp_path / "icnet.onnx"
    model.write_bytes(b"one")
    first = engine_cache_path(tmp_path / "cache", model, "10.3.0", "GPU", True)
    assert (
        first.parent == tmp_path / "cache" and first.name.startswith("icnet-") and first.suffix == ".engine"
    )
    assert first == engine_cache_path(tmp_path / "cache", model, "10.3.0", "GPU", True)
    model.write_bytes(b"two")  # retrained model: a new engine, never the stale one
    assert engine_cache_path(tmp_path / "cache", model, "10.3.0", "GPU", True) != first


def test_onnxruntime_names_the_provider_that_serves(weights: Path, caplog) -> None:
    """CUDA asked for where ONNX Runtime cannot start it (here: a CPU-only build; on a GPU
    box, a missing cuDNN): ORT serves on the CPU by itself; the engine says so, not CUDA."""
    if onnxruntime_status("cpu") is not None:
        pytest.skip("onnxruntime not available")
    if onnxruntime_status("cuda") is None:
        pytest.skip("the CUDA provider starts here")
    from cloudseg_ros.engines.onnxruntime_engine import OnnxRuntimeEngine

    with caplog.at_level("WARNING"):
        engine = OnnxRuntimeEngine(weights / "carn_m.onnx", device="cuda")
    assert (engine.name, engine.on_gpu) == ("onnxruntime-cpu", False)
    assert "CUDA provider did not start" in caplog.text


def test_profiles_cover_demo_and_paper_sizes(weights: Path) -> None:
    profile = graph_source(weights, "icnet", "decode").profile
    lo, opt, hi = profile["hr"]
    assert lo[2:] <= (256, 512) and opt[2:] == (512, 1024) and hi[2:] >= (1024, 2048)
    assert profile["low"][2] == (8, 16, 32, 64)  # up to 8 robots' frames in one call
    assert [shape[0] for shape in profile["hr"]] == [1, 1, 8]


def test_a_model_file_that_is_not_the_exported_one_is_refused(weights: Path, tmp_path: Path, caplog) -> None:
    """Bytes flipped inside the weights of icnet.onnx still parse, and ONNX Runtime served
    the damaged model silently; the sha256 `cloudseg export` recorded catches it. A checkpoint
    retrained after the export is named too (the ONNX engines would serve the old model)."""
    if onnxruntime_status("cpu") is not None:
        pytest.skip("onnxruntime not available")
    for f in weights.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    onnx = bytearray((tmp_path / "icnet.onnx").read_bytes())
    middle = len(onnx) // 2
    onnx[middle : middle + 64] = bytes(b ^ 0x5A for b in onnx[middle : middle + 64])
    (tmp_path / "icnet.onnx").write_bytes(bytes(onnx))
    with pytest.raises(ConfigError, match=r"icnet\.onnx: not the file `cloudseg export` wrote"):
        create_engine(
            graph_source(tmp_path, "icnet", "segmenter"), "onnxruntime", output_names=["ids", "low"]
        )
    create_engine(graph_source(weights, "icnet", "segmenter"), "onnxruntime", output_names=["ids", "low"])
    with (tmp_path / "icnet.pt").open("ab") as pt:
        pt.write(b"\0")  # a different checkpoint than the one exported
    with caplog.at_level("WARNING"):
        graph_source(tmp_path, "icnet", "decode")
    assert "icnet.pt changed since its ONNX files were exported" in caplog.text
    # Retrained in place (`cloudseg train ... --out` a folder with exported files): the new
    # metadata keeps the export record, so the stale ONNX files are still named.
    from cloudseg_ros.models import build_model
    from cloudseg_ros.models.checkpoint import read_metadata, save_model

    cfg = read_metadata(weights, "carn_m")["model"]
    save_model(tmp_path, "carn_m", "sr", cfg, build_model(cfg).eval())
    assert read_metadata(tmp_path, "carn_m")["sha256"] == read_metadata(weights, "carn_m")["sha256"]
    caplog.clear()
    with caplog.at_level("WARNING"):
        graph_source(tmp_path, "carn_m", "sr")
    assert "carn_m.pt changed since its ONNX files were exported" in caplog.text
