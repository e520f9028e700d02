"""CloudPipeline: the API the cloud node calls (shapes, names, sizes, key-frame reuse)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.models.checkpoint import load_checkpoint
from cloudseg_ros.models.tiny import write_tiny_weights
from cloudseg_ros.segmenter import CloudPipeline, PipelineResult
from cloudseg_ros.train.data import to_nchw


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    write_tiny_weights(directory)
    return directory


@pytest.fixture(scope="module")
def pipe(weights: Path) -> CloudPipeline:
    return CloudPipeline(
        sr_model="bilinear", segmenter="icnet", engine="auto", num_threads=2, weights_dir=weights
    )


def _lr(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("size", [(256, 128), (512, 256), (320, 96)])
def test_process_returns_hr_mask_and_names(pipe: CloudPipeline, size: tuple[int, int]) -> None:
    w, h = size
    res = pipe.process(_lr(w // 4, h // 4), w, h, robot_id="shape")
    assert isinstance(res, PipelineResult)
    assert res.class_ids.shape == (h, w) and res.class_ids.dtype == np.uint8
    assert int(res.class_ids.max()) < 19
    assert (res.sr_model, res.segmenter) == ("bilinear", "icnet")
    assert res.engine == pipe.engine and res.engine.startswith(("onnxruntime", "tensorrt", "torch"))
    assert res.sr_ms >= 0 and res.segment_ms > 0 and not res.reused_key_features


def test_sizes_not_multiple_of_32_are_refused(pipe: CloudPipeline) -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        pipe.process(_lr(250, 125), 1000, 500)
    with pytest.raises(ConfigError, match="uint8"):
        pipe.process(_lr(64, 32).astype(np.float32), 256, 128)
    with pytest.raises(ConfigError, match="selection"):
        pipe.process(_lr(64, 32), 256, 128, selection="skip")


def test_useful_frame_reuses_the_key_frame_features_of_its_robot(pipe: CloudPipeline) -> None:
    key = pipe.process(_lr(64, 32, 1), 256, 128, selection="key", robot_id="car1")
    useful = pipe.process(_lr(64, 32, 2), 256, 128, selection="useful", robot_id="car1")
    assert useful.reused_key_features
    assert useful.key_frame_features is key.key_frame_features
    # Reusing features of the SAME frame gives the key-frame mask exactly.
    same = pipe.process(_lr(64, 32, 1), 256, 128, selection="useful", robot_id="car1")
    np.testing.assert_array_equal(same.class_ids, key.class_ids)
    # Another robot has no key frame yet: its useful frame is processed in full.
    assert not pipe.process(_lr(64, 32, 2), 256, 128, selection="useful", robot_id="car2").reused_key_features
    # A size change invalidates the stored features.
    assert not pipe.process(_lr(128, 64), 512, 256, selection="useful", robot_id="car1").reused_key_features


def test_forget_drops_robot_state(pipe: CloudPipeline) -> None:
    pipe.process(_lr(64, 32), 256, 128, selection="key", robot_id="gone")
    assert "gone" in pipe.robots()
    pipe.forget("gone")
    pipe.forget("never-seen")
    assert "gone" not in pipe.robots()
    assert not pipe.process(_lr(64, 32), 256, 128, selection="useful", robot_id="gone").reused_key_features


def test_explicit_state_overrides_robot_state(pipe: CloudPipeline) -> None:
    a = pipe.process(_lr(64, 32, 3), 256, 128, selection="key", robot_id="x")
    pipe.process(_lr(64, 32, 4), 256, 128, selection="key", robot_id="x")
    res = pipe.process(_lr(64, 32, 3), 256, 128, key_frame_features=a.key_frame_features, selection="useful")
    np.testing.assert_array_equal(res.class_ids, a.class_ids)


def test_mask_matches_the_torch_segmenter(pipe: CloudPipeline, weights: Path) -> None:
    lr = _lr(64, 32, 5)
    res = pipe.process(lr, 256, 128, robot_id="ref")
    import cv2

    hr = to_nchw(cv2.resize(lr, (256, 128), interpolation=cv2.INTER_LINEAR))
    with torch.no_grad():
        want = load_checkpoint(weights / "icnet.pt").predict(
            torch.from_numpy(hr), torch.from_numpy(to_nchw(lr))
        )
    assert np.mean(res.class_ids != want[0].numpy()) < 0.002


@pytest.mark.parametrize("sr_model", ["cloudseg", "sr", "espcn", "bicubic"])
def test_learned_and_classical_sr(weights: Path, sr_model: str) -> None:
    pipe = CloudPipeline(sr_model=sr_model, weights_dir=weights)
    res = pipe.process(_lr(64, 32), 256, 128)
    expected = {"cloudseg": "carn_m_cloudseg", "sr": "carn_m"}.get(sr_model, sr_model)
    assert res.sr_model == expected and res.class_ids.shape == (128, 256)
    # x2 or full-resolution frames (the controller may send them) fall back honestly.
    assert pipe.process(_lr(128, 64), 256, 128).sr_model in ("bilinear", "bicubic")
    assert pipe.process(_lr(256, 128), 256, 128).sr_model == "none"


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
def test_fused_sr_and_segmenter_give_the_separate_masks(weights: Path, engine: str) -> None:
    """x4 frames of a learned SR go through one fused graph: the same masks (key and
    useful frames, batched across robots) as SR and segmentation called one after the other;
    other ratios still take the separate path."""
    fused = CloudPipeline(sr_model="cloudseg", engine=engine, weights_dir=weights, fuse="on")
    apart = CloudPipeline(sr_model="cloudseg", engine=engine, weights_dir=weights, fuse="off")
    auto = CloudPipeline(sr_model="cloudseg", engine=engine, weights_dir=weights)
    assert fused.fused is not None and apart.fused is None
    assert (auto.fused is not None) == auto.upscaler.engine.on_gpu  # auto: fused on GPUs only
    with pytest.raises(ConfigError, match="fuse must be one of"):
        CloudPipeline(sr_model="cloudseg", weights_dir=weights, fuse="yes")
    rounds = [
        [(_lr(64, 32, 10), 256, 128, "key", "a"), (_lr(64, 32, 11), 256, 128, "key", "b")],
        [(_lr(64, 32, 12), 256, 128, "useful", "a"), (_lr(64, 32, 13), 256, 128, "useful", "b")],
        [(_lr(128, 64, 14), 256, 128, "key", "a"), (_lr(64, 32, 15), 256, 128, "useful", "b")],
    ]
    for items in rounds:
        got, want = fused.process_batch(items), apart.process_batch(items)
        for g, w, item in zip(got, want, items, strict=True):
            assert g.fused == (item[0].shape[1] * 4 == item[1]) and not w.fused
            assert (g.sr_model, g.reused_key_features) == (w.sr_model, w.reused_key_features)
            assert np.mean(g.class_ids != w.class_ids) < 0.002
            np.testing.assert_allclose(g.key_frame_features.low, w.key_frame_features.low, atol=1e-4)
    assert got[0].sr_model == "bilinear" and got[1].reused_key_features  # x2 fell back; b reused


def test_fused_graphs_are_exported_once_per_checkpoint_pair(
    weights: Path, tmp_path: Path, monkeypatch
) -> None:
    from cloudseg_ros.engines.export import fused_sources

    first = fused_sources(weights, "carn_m_cloudseg", "icnet", cache_dir=tmp_path)
    stamps = {g: s.onnx_path.stat().st_mtime_ns for g, s in first.items()}
    again = fused_sources(weights, "carn_m_cloudseg", "icnet", cache_dir=tmp_path)
    assert {g: s.onnx_path for g, s in again.items()} == {g: s.onnx_path for g, s in first.items()}
    assert {g: s.onnx_path.stat().st_mtime_ns for g, s in again.items()} == stamps  # not re-exported
    other = fused_sources(weights, "carn_m", "icnet", cache_dir=tmp_path)  # other weights, other files
    assert not {s.onnx_path for s in other.values()} & {s.onnx_path for s in first.values()}
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("carn_m_cloudseg+icnet-*.onnx")) == [
        "decode",
        "key",
    ]
    assert first["decode"].profile["low"][0][1] == first["decode"].profile["low"][2][1] > 0
    # Changed model code (or another torch) with the same checkpoints: exported anew.
    from cloudseg_ros.engines import export

    monkeypatch.setattr(export, "_code_digest", lambda: "other code")
    changed = fused_sources(weights, "carn_m_cloudseg", "icnet", cache_dir=tmp_path)
    assert not {s.onnx_path for s in changed.values()} & {s.onnx_path for s in first.values()}
    # The one-off fused export that eval's table 2 times carries TensorRT's shape profile too.
    timed = export.export_fused(weights, "carn_m_cloudseg", "icnet", tmp_path / "timed.onnx")
    assert timed.profile.keys() == {"lr"} and timed.profile["lr"][2][0] > 1
    with pytest.raises(ConfigError, match=r"nowhere\.pt"):
        fused_sources(weights, "nowhere", "icnet", cache_dir=tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")  # a cache "directory" that is a file: nothing can be written there
    with pytest.raises(ConfigError, match="CLOUDSEG_CACHE"):
        fused_sources(weights, "carn_m_cloudseg", "icnet", cache_dir=blocker / "graphs")


def test_warm_up_runs_every_graph_and_leaves_no_state(weights: Path) -> None:
    pipe = CloudPipeline(sr_model="cloudseg", weights_dir=weights, fuse="on")
    calls: list[str] = []

    def count(engine: object, name: str) -> None:
        run = engine.run
        engine.run = lambda feeds: calls.append(name) or run(feeds)

    count(pipe.key_engine, "key")
    count(pipe.decode_engine, "decode")
    for name, engine in pipe.fused.items():
        count(engine, f"fused-{name}")
    assert pipe.warm_up() > 0
    assert sorted(set(calls)) == ["decode", "fused-decode", "fused-key", "key"]
    assert pipe.robots() == []


def test_a_corrupt_cached_fused_graph_is_exported_again(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSEG_CACHE", str(tmp_path))
    first = CloudPipeline(sr_model="cloudseg", engine="onnxruntime", weights_dir=weights, fuse="on")
    cached = first.fused["key"]
    path = next((tmp_path / "graphs").glob("*-key-*.onnx"))
    path.write_bytes(b"half a file")
    again = CloudPipeline(sr_model="cloudseg", engine="onnxruntime", weights_dir=weights, fuse="on")
    assert path.stat().st_size > 1000 and again.fused["key"] is not cached
    lr = _lr(64, 32, 7)
    np.testing.assert_array_equal(
        again.process(lr, 256, 128).class_ids, first.process(lr, 256, 128).class_ids
    )


def test_bad_names_and_missing_weights(weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sr_model"):
        CloudPipeline(sr_model="waifu2x", weights_dir=weights)
    with pytest.raises(ConfigError, match="metadata not found"):
        CloudPipeline(segmenter="pspnet", weights_dir=weights)
    with pytest.raises(ConfigError, match="not found"):
        CloudPipeline(weights_dir=tmp_path / "nowhere")


def test_bandwidth_to_reach_interpolates_on_the_frontier() -> None:
    from cloudseg_ros.evaluation.bandwidth import Point, bandwidth_to_reach, frontier

    pts = [Point("hr", 8, 8, b, k, m, None) for b, k, m in ((1, 100, 0.5), (2, 200, 0.45), (3, 400, 0.7))]
    assert [p.kbps for p in frontier(pts)] == [100, 400]  # the dominated point is dropped
    assert bandwidth_to_reach(pts, 0.4) == 100
    assert bandwidth_to_reach(pts, 0.7) == pytest.approx(400)
    assert 100 < bandwidth_to_reach(pts, 0.6) < 400
    assert bandwidth_to_reach(pts, 0.9) is None


def test_targets_read_the_numbers() -> None:
    from cloudseg_ros.evaluation.report import check_targets

    def row(miou: float, person: float, psnr: float | None) -> dict:
        return {"miou": miou, "per_class": {"person": person, "road": 0.9}, "psnr": psnr}

    t1 = {"hr": row(0.70, 0.6, None), "bilinear": row(0.60, 0.3, 30.0), "sr": row(0.64, 0.4, 31.0)}
    t1["cloudseg"] = row(0.68, 0.55, 30.8)
    spreads = {"sr": {"miou": {"spread": 0.01, "n": 3}}, "cloudseg": {"miou": {"spread": 0.01, "n": 3}}}
    bw = {"miou_hr_minus_margin": {"ratios": {"hr_over_cloudseg": 12.0, "awstream_over_cloudseg": 3.0}}}
    t = check_targets(t1, spreads, bw)
    assert t["cloudseg_gt_sr_gt_bilinear"]["met"] and t["cloudseg_within_0.03_of_hr"]["met"]
    assert t["person_gains_most"]["met"] and t["psnr_within_0.5db"]["met"]
    assert (
        t["bandwidth_hr_over_cloudseg_ge_10"]["met"] and not t["bandwidth_awstream_over_cloudseg_ge_4"]["met"]
    )
    spreads["sr"]["miou"]["spread"] = 0.05  # seed noise larger than the margin: not shown
    assert check_targets(t1, spreads, bw)["cloudseg_gt_sr_gt_bilinear"]["met"] is False
    # One training seed (no --runs): no spread to beat, so not shown either way; a wrong order is.
    one = {"sr": {"miou": {"spread": 0.0, "n": 1}}, "cloudseg": {"miou": {"spread": 0.0, "n": 1}}}
    assert check_targets(t1, one, bw)["cloudseg_gt_sr_gt_bilinear"]["met"] is None
    assert check_targets(t1, {}, bw)["cloudseg_gt_sr_gt_bilinear"]["met"] is None
    t1["cloudseg"] = row(0.63, 0.55, 30.8)
    assert check_targets(t1, one, bw)["cloudseg_gt_sr_gt_bilinear"]["met"] is False
