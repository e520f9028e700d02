"""Batching frames of several robots into one inference call, with real engines.

Verifies: ``process_batch`` gives exactly the masks and key-frame state of one ``process``
call per item (also with a learned SR model, mixed key/useful frames, mixed HR sizes and
several frames of one robot); frames are grouped per graph and HR size; an engine with a
fixed batch size is served in chunks. The service takes at most one frame per robot per
batch in round-robin order, answers every frame and batches when frames are waiting.
The ONNX graphs are the tiny models exported with the dynamic batch axis into a temp dir.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cloudseg_ros.cloud.service import CloudService
from cloudseg_ros.codec import make_encoder
from cloudseg_ros.imaging.resize import downscale
from cloudseg_ros.models.tiny import write_tiny_weights
from cloudseg_ros.scene import DrivingScene
from cloudseg_ros.segmenter import BatchItem, CloudPipeline

from service_tools import HR, Frame, Sink


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("weights")
    write_tiny_weights(directory)  # exported like shipped weights: dynamic batch axis
    return directory


def _pipe(weights: Path, sr_model: str = "bilinear") -> CloudPipeline:
    return CloudPipeline(sr_model=sr_model, engine="onnxruntime", num_threads=1, weights_dir=weights)


def _lr(w: int, h: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _items() -> list[BatchItem]:
    """Key and useful frames of four robots at two HR sizes, one robot twice in a row."""
    small, large = (HR[0] // 4, HR[1] // 4), (HR[0] // 2, HR[1] // 2)
    return [
        BatchItem(_lr(*small, 1), *HR, "key", "a"),
        BatchItem(_lr(*small, 2), *HR, "key", "b"),
        BatchItem(_lr(*small, 3), *HR, "useful", "c"),  # no state yet: key graph, state kept
        BatchItem(_lr(*large, 4), 512, 256, "key", "d"),
        BatchItem(_lr(*small, 5), *HR, "useful", "a"),  # reuses what item 0 just stored
        BatchItem(_lr(*small, 6), *HR, "useful", "b"),
        BatchItem(_lr(*large, 7), 512, 256, "useful", "c"),  # size differs from c's state
        BatchItem(_lr(*large, 8), 512, 256, "useful", "d"),
    ]


class CallLog:
    """Records the batch size of every call of an engine."""

    def __init__(self, engine) -> None:
        self.engine, self.sizes = engine, []
        self.run, engine.run = engine.run, self._run

    def _run(self, feeds):
        self.sizes.append(feeds["hr"].shape[0])
        return self.run(feeds)


@pytest.mark.parametrize("sr_model", ["bilinear", "cloudseg"])
def test_batch_equals_one_call_per_frame(weights: Path, sr_model: str) -> None:
    single, batched = _pipe(weights, sr_model), _pipe(weights, sr_model)
    items = _items()
    want = [
        single.process(i.lr_rgb, i.hr_width, i.hr_height, selection=i.selection, robot_id=i.robot_id)
        for i in items
    ]
    got = batched.process_batch([tuple(i) for i in items])  # plain tuples work too
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g.class_ids, w.class_ids)
        assert g.class_ids.flags.c_contiguous and g.class_ids.dtype == np.uint8
        assert (g.reused_key_features, g.sr_model) == (w.reused_key_features, w.sr_model)
    assert [g.reused_key_features for g in got] == [False, False, False, False, True, True, False, True]
    # The key-frame state is what the single calls left behind, stored per frame (no views).
    assert batched.robots() == single.robots() == ["a", "b", "c", "d"]
    for robot in single.robots():
        mine, theirs = batched._state[robot], single._state[robot]
        assert mine.hr_size == theirs.hr_size
        np.testing.assert_array_equal(mine.low, theirs.low)
        assert mine.low.shape[0] == 1 and mine.low.flags.c_contiguous
        if robot != "d":  # a, b, c were key frames of one batch: each keeps its own copy
            assert mine.low.flags.owndata


def test_frames_are_grouped_per_graph_and_size(weights: Path) -> None:
    pipe = _pipe(weights)
    key, decode = CallLog(pipe.key_engine), CallLog(pipe.decode_engine)
    got = pipe.process_batch(_items())
    # Round 1 (a, b, c, d): a, b, c share a 256x128 key call, d runs at 512x256.
    # Round 2 (a, b, c, d again): a, b reuse features (one decode call), c (new size) and d
    # (reuse at 512x256) each are alone of their kind.
    assert key.sizes == [3, 1, 1] and decode.sizes == [2, 1]
    assert [r.batch_size for r in got] == [3, 3, 3, 1, 2, 2, 1, 1]
    assert all(r.segment_ms > 0 and r.sr_ms >= 0 for r in got)
    # process is a batch of one
    assert pipe.process(_lr(64, 32, 9), *HR, selection="useful", robot_id="a").batch_size == 1
    assert decode.sizes[-1] == 1


def test_key_state_follows_the_frames_in_order(weights: Path) -> None:
    pipe = _pipe(weights)
    first, useful, second = pipe.process_batch(
        [
            (_lr(64, 32, 1), *HR, "key", "a"),
            (_lr(64, 32, 1), *HR, "useful", "a"),  # same frame: must reuse the key frame before it
            (_lr(64, 32, 2), *HR, "key", "a"),
        ]
    )
    assert useful.reused_key_features and useful.key_frame_features is first.key_frame_features
    np.testing.assert_array_equal(useful.class_ids, first.class_ids)
    assert pipe._state["a"] is second.key_frame_features  # the last key frame wins
    # A useful frame without state is processed in full and its features kept (as process).
    (lone,) = pipe.process_batch([(_lr(64, 32, 3), *HR, "useful", "b")])
    assert not lone.reused_key_features and pipe._state["b"] is lone.key_frame_features


def test_fixed_batch_engines_run_in_chunks(weights: Path) -> None:
    pipe, ref = _pipe(weights), _pipe(weights)
    pipe.key_engine.max_batch = 2  # as an engine with a batch-1/2 profile would say
    key = CallLog(pipe.key_engine)
    items = [(_lr(64, 32, s), *HR, "key", f"r{s}") for s in range(5)]
    got = pipe.process_batch(items)
    assert key.sizes == [2, 2, 1]
    for g, w in zip(got, ref.process_batch(items), strict=True):
        np.testing.assert_array_equal(g.class_ids, w.class_ids)


def test_bad_items_are_refused_before_anything_runs(weights: Path) -> None:
    from cloudseg_ros.errors import ConfigError

    pipe = _pipe(weights)
    with pytest.raises(ConfigError, match="selection"):
        pipe.process_batch([(_lr(64, 32, 1), *HR, "key", "a"), (_lr(64, 32, 1), *HR, "skip", "b")])
    with pytest.raises(ConfigError, match="multiple of 32"):
        pipe.process_batch([(_lr(64, 32, 1), *HR, "key", "a"), (_lr(64, 32, 1), 250, 125, "key", "b")])
    assert pipe.robots() == []


# ---------------------------------------------------------------------- the service


class Recorder:
    """The pipeline, recording which robots each call served."""

    def __init__(self, pipe: CloudPipeline) -> None:
        self.pipe, self.calls = pipe, []

    def __getattr__(self, name: str):
        return getattr(self.pipe, name)

    def process(self, lr, w, h, selection="key", robot_id="car1"):
        self.calls.append([robot_id])
        return self.pipe.process(lr, w, h, selection=selection, robot_id=robot_id)

    def process_batch(self, items):
        self.calls.append([item[4] for item in items])
        return self.pipe.process_batch(items)


@pytest.fixture(scope="module")
def stream() -> list[Frame]:
    scene = DrivingScene(seed=5, width=HR[0], height=HR[1])
    enc = make_encoder("h264", width=HR[0] // 4, height=HR[1] // 4, fps=10, bitrate_kbps=300, gop=1000)
    frames = []
    for i in range(20):
        pkt = enc.encode(downscale(scene.render(i).image, 4))
        frames.append(Frame(seq=i + 1, data=pkt.data, key_frame=pkt.key_frame))
    return frames


def wait(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.02)
    return predicate()


def test_batches_take_one_frame_per_robot_round_robin(weights: Path, stream: list[Frame]) -> None:
    sink = Sink()
    svc = CloudService(_pipe(weights), sink.mask, sink.fb, queue_depth=2, max_batch=2)  # not started
    for robot in "abc":
        svc.receive(robot, stream[0])
        svc.receive(robot, stream[1])

    def order() -> list[str]:
        return [state.name for state, _ in svc._next_jobs()]

    assert [order(), order(), order()] == [["a", "b"], ["c", "a"], ["b", "c"]]
    svc.receive("b", stream[2])  # only one frame waiting: served at once, alone
    assert order() == ["b"]
    svc.max_batch = 1
    for robot in "abc":
        svc.receive(robot, stream[3 if robot == "b" else 2])
    assert [order(), order(), order()] == [["c"], ["a"], ["b"]]  # after b, the last one served


def test_service_batches_three_robots_fairly(weights: Path, stream: list[Frame]) -> None:
    sink = Sink()
    pipe = Recorder(_pipe(weights))
    svc = CloudService(pipe, sink.mask, sink.fb, queue_depth=2, max_batch=4).start()
    try:
        done = threading.Event()

        def flood() -> None:  # "hog" replays its stream as fast as it can
            i = 0
            while not done.is_set():
                svc.receive("hog", Frame(seq=i + 1, data=stream[i % len(stream)].data))
                i += 1
                if i % 4 == 0:
                    time.sleep(0.001)

        hog = threading.Thread(target=flood)
        hog.start()
        for i, f in enumerate(stream[:12]):  # one frame each in flight, as the edge's window
            svc.receive("car1", f)
            svc.receive("car2", f)
            both = lambda n=i + 1: len(sink.of("car1")[1]) == n and len(sink.of("car2")[1]) == n  # noqa: E731
            assert wait(both), f"starved at frame {i + 1}"
        done.set()
        hog.join()
        assert wait(lambda: len(sink.of("car1")[1]) == 12 and len(sink.of("car2")[1]) == 12)
        assert wait(lambda: len(sink.feedback) == sum(s["frames_received"] for s in svc.stats().values()))
        for robot in ("car1", "car2"):
            masks, fb = sink.of(robot)
            assert sorted(f.seq for f in fb) == list(range(1, 13))  # every frame answered once
            assert len(masks) == 12, f"{robot} got {len(masks)} of 12 masks next to a flooding robot"
            assert all(m.width == HR[0] and m.height == HR[1] for m in masks)
        assert sink.of("hog")[0] and svc.stats()["hog"]["superseded"] > 0  # it only loses its own
        assert all(len(set(call)) == len(call) for call in pipe.calls)  # one frame per robot
        assert max(len(call) for call in pipe.calls) > 1
        assert max(m.batch_size for m in sink.masks) > 1
        stats = svc.batch_stats()
        assert stats["batches"] == len(pipe.calls) and 1 < stats["mean_batch_size"] <= 3
        assert svc.inference_errors == 0
    finally:
        svc.stop()


def test_a_failing_batch_is_served_frame_by_frame(weights: Path, stream: list[Frame]) -> None:
    sink = Sink()
    pipe = _pipe(weights)

    class Flaky(Recorder):
        def process_batch(self, items):
            raise RuntimeError("batch failed")

    svc = CloudService(Flaky(pipe), sink.mask, sink.fb, queue_depth=2, max_batch=4)
    for robot in "ab":
        svc.receive(robot, stream[0])
    svc.start()
    try:
        assert wait(lambda: len(sink.feedback) == 2)
        assert sorted(m.robot for m in sink.masks) == ["a", "b"] and svc.inference_errors == 0
    finally:
        svc.stop()
