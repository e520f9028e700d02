"""The cloud's serving logic with real decoders and the real (shipped) models, without ROS.

Verifies: every received frame gets exactly one feedback (mask out, superseded, or
rejected); a robot flooding the cloud cannot starve another (per-robot newest-wins queues,
round-robin service); one robot's garbage is contained to that robot; sequence gaps and
restarts reset the decoder and ask for a key frame; silent robots are forgotten with their
state; frames of any camera size are served (padding to the segmenter's stride).
The ROS wiring of the same service is covered by test_graph.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from cloudseg_ros.cloud.service import CloudService, pad_to_multiple
from cloudseg_ros.codec import make_encoder
from cloudseg_ros.imaging.resize import downscale
from cloudseg_ros.scene import DrivingScene
from cloudseg_ros.segmenter import CloudPipeline

from service_tools import HR, Frame, Sink


@pytest.fixture(scope="module")
def pipeline() -> CloudPipeline:
    return CloudPipeline(sr_model="bilinear", num_threads=1)


@pytest.fixture(scope="module")
def stream() -> list[Frame]:
    scene = DrivingScene(seed=5, width=HR[0], height=HR[1])
    enc = make_encoder("h264", width=64, height=32, fps=10, bitrate_kbps=300, gop=1000)
    frames = []
    for i in range(40):
        pkt = enc.encode(downscale(scene.render(i).image, 4))
        frames.append(Frame(seq=i + 1, data=pkt.data, key_frame=pkt.key_frame))
    return frames


def service(pipeline: CloudPipeline, sink: Sink, depth: int = 2) -> CloudService:
    return CloudService(pipeline, sink.mask, sink.fb, queue_depth=depth).start()


def wait(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        time.sleep(0.02)
    return predicate()


def test_every_frame_gets_one_feedback(pipeline, stream) -> None:
    sink = Sink()
    svc = service(pipeline, sink)
    try:
        for f in stream[:20]:
            svc.receive("car1", f)  # as fast as possible: many are superseded
        assert wait(lambda: len(sink.of("car1")[1]) == 20)
        masks, fb = sink.of("car1")
        assert sorted(f.seq for f in fb) == list(range(1, 21))
        assert len(masks) + sum(f.error == "superseded" for f in fb) == 20
        assert masks[-1].frame.seq == 20  # the newest is always served
        assert all(m.width == HR[0] and m.height == HR[1] for m in masks)
        assert svc.stats()["car1"]["decode_errors"] == 0
    finally:
        svc.stop()


def test_flooding_robot_cannot_starve_another(pipeline, stream) -> None:
    sink = Sink()
    svc = service(pipeline, sink)
    try:
        done = threading.Event()

        def flood() -> None:
            i = 0
            while not done.is_set():  # a robot replaying its stream as fast as it can
                f = stream[i % len(stream)]
                svc.receive(
                    "hog", Frame(seq=i + 1, data=f.data, key_frame=f.key_frame or i % len(stream) == 0)
                )
                i += 1

        hog = threading.Thread(target=flood)
        hog.start()
        for i, f in enumerate(stream[:10]):
            # A well-behaved robot: one frame in flight (the edge's window), the next once it is
            # answered. Starved, it would wait forever; served fairly, it never loses a frame
            # however slow the machine (a paced sender on 2 loaded cores sometimes had its
            # queue overwritten between two turns).
            svc.receive("car1", f)
            assert wait(lambda n=i + 1: len(sink.of("car1")[1]) == n), f"car1 starved at frame {i + 1}"
        done.set()
        hog.join()
        masks, _ = sink.of("car1")
        assert len(masks) == 10, f"car1 got {len(masks)} of 10 masks next to a flooding robot"
        assert svc.stats()["hog"]["superseded"] > 0  # the hog only loses its own frames
        assert svc.stats()["car1"]["queued"] <= 2 and svc.stats()["hog"]["queued"] <= 2
    finally:
        svc.stop()


def test_garbage_is_contained_to_its_robot(pipeline, stream) -> None:
    sink = Sink()
    svc = service(pipeline, sink)
    try:
        rng = np.random.default_rng(0)
        for i, f in enumerate(stream[:10]):
            svc.receive("car1", f)
            bad = bytearray(stream[i].data)
            bad[4:] = rng.integers(0, 256, len(bad) - 4, dtype=np.uint8).tobytes()
            svc.receive("evil", Frame(seq=i + 1, data=bytes(bad), key_frame=True))
            time.sleep(0.05)
        assert wait(lambda: len(sink.of("car1")[1]) == 10 and len(sink.of("evil")[1]) == 10)
        evil = svc.stats()["evil"]
        assert evil["decode_errors"] + evil["waiting_for_key"] >= 8  # random bytes rarely parse
        assert sum(f.request_idr for f in sink.of("evil")[1]) >= 8
        assert svc.stats()["car1"]["decode_errors"] == 0
        assert len(sink.of("car1")[0]) >= 5
    finally:
        svc.stop()


def test_gap_and_restart_ask_for_key_frames(pipeline, stream) -> None:
    sink = Sink()
    svc = service(pipeline, sink)
    try:
        for f in stream[:5]:
            svc.receive("car1", f)
        svc.receive("car1", stream[7])  # 6 and 7 lost: an inter frame after a hole
        assert wait(lambda: len(sink.of("car1")[1]) == 6)
        (after_gap,) = [f for f in sink.of("car1")[1] if f.seq == 8]
        assert (
            after_gap.request_idr
            and after_gap.frames_lost == 2
            and after_gap.error == "waiting for key frame"
        )
        assert svc.stats()["car1"]["decode_errors"] == 0  # waiting for a key frame is no error
        # The robot restarts: numbering goes back to 1 and its first frame is a key frame.
        svc.receive("car1", stream[0])
        assert wait(lambda: len(sink.of("car1")[0]) >= 1 and len(sink.of("car1")[1]) == 7)
        assert not [f for f in sink.of("car1")[1] if f.seq == 1][-1].request_idr
    finally:
        svc.stop()


def test_silent_robot_is_forgotten(pipeline, stream) -> None:
    sink = Sink()
    svc = service(pipeline, sink)
    try:
        svc.receive("car1", stream[0])
        svc.receive("gone", stream[0])
        assert wait(lambda: len(sink.feedback) == 2)
        time.sleep(0.3)
        svc.receive("car1", stream[1])
        assert svc.forget_silent(timeout_s=0.2) == ["gone"]
        assert "gone" not in svc.robots and "gone" not in pipeline.robots()
        assert "car1" in svc.robots
    finally:
        svc.stop()


def test_any_camera_size_is_padded_to_the_stride() -> None:
    lr = np.zeros((90, 160, 3), np.uint8)
    padded, w, h = pad_to_multiple(lr, 640, 360, 32)
    assert (w, h) == (640, 384) and padded.shape == (96, 160, 3)
    same, w, h = pad_to_multiple(lr, 640, 352, 32)
    assert same is lr or same.shape == lr.shape


class Held:
    """The real pipeline behind a gate: holds the worker on its first frame so that the
    frames after it queue up (what a busy cloud does), then lets everything through."""

    def __init__(self, pipeline: CloudPipeline) -> None:
        self.real, self.gate = pipeline, threading.Event()
        self.multiple = pipeline.multiple

    def warm_up(self) -> float:
        return 0.0

    def forget(self, robot: str) -> None:
        self.real.forget(robot)

    def process(self, *args, **kwargs):
        self.gate.wait(20.0)
        return self.real.process(*args, **kwargs)


def test_a_key_frame_superseded_in_the_queue_is_not_replaced_by_an_older_one(pipeline) -> None:
    """KEY 1 (being segmented), then KEY 2, USEFUL 3, USEFUL 4 while the worker is busy: the
    queue of 2 supersedes KEY 2. USEFUL 3 and 4 were selected against KEY 2, so reusing KEY
    1's features for them would be wrong: the first is segmented as a KEY instead."""
    frames = _jpeg_frames([(10, 0), (20, 0), (30, 1), (40, 1)], scene_seed=8)
    held, sink = Held(pipeline), Sink()
    svc = CloudService(held, sink.mask, sink.fb, queue_depth=2).start()
    try:
        svc.receive("car1", frames[0])
        assert wait(lambda: len(svc.robots["car1"].queue) == 0)  # the worker holds KEY 1
        for f in frames[1:]:
            svc.receive("car1", f)
        held.gate.set()
        assert wait(lambda: len(sink.of("car1")[0]) == 3)
        masks, feedback = sink.of("car1")
        assert [f.error for f in feedback if f.seq == 2] == ["superseded"]
        by_seq = {m.frame.seq: m for m in masks}
        assert set(by_seq) == {1, 3, 4}
        assert not by_seq[3].reused_key_features  # served as a KEY: its own features
        assert by_seq[4].reused_key_features  # ... which frame 4 then reuses
        assert svc.stats()["car1"]["useful_served_as_key"] == 1
    finally:
        svc.stop()


def _jpeg_frames(
    frames_and_selections: list[tuple[int, int]], first_seq: int = 1, factor: int = 4, scene_seed: int = 9
) -> list[Frame]:
    """JPEG frames of scene frames ``i`` with selection ``sel`` (0 KEY, 1 USEFUL), numbered on."""
    from cloudseg_ros.codec import make_encoder as encoder

    w, h = HR[0] // factor, HR[1] // factor
    scene, jpeg = DrivingScene(seed=scene_seed, width=HR[0], height=HR[1]), encoder("jpeg", width=w, height=h)
    return [
        Frame(seq=first_seq + k, data=jpeg.encode(downscale(scene.render(i).image, factor)).data, codec="jpeg",
              key_frame=True, selection=sel, width=w, height=h)
        for k, (i, sel) in enumerate(frames_and_selections)
    ]  # fmt: skip


def test_after_a_lost_frame_the_next_useful_one_is_segmented_as_a_key(pipeline) -> None:
    """KEY 1, USEFUL 2, KEY 3 lost on the way, USEFUL 4: a JPEG decodes on its own, so nothing
    asked for anything, and USEFUL 4 (selected against KEY 3) reused KEY 1's features."""
    frames = _jpeg_frames([(0, 0), (10, 1), (20, 0), (30, 1)])
    sink = Sink()
    svc = service(pipeline, sink, depth=4)
    try:
        for f in (frames[0], frames[1], frames[3]):
            svc.receive("car1", f)
            assert wait(lambda f=f: any(m.frame.seq == f.seq for m in sink.of("car1")[0]))
        by_seq = {m.frame.seq: m for m in sink.of("car1")[0]}
        assert by_seq[2].reused_key_features and not by_seq[4].reused_key_features
        assert svc.stats()["car1"]["useful_served_as_key"] == 1
    finally:
        svc.stop()


def test_new_limits_reach_the_decoders_of_robots_already_served(pipeline) -> None:
    """A raised max_bytes kept refusing an existing robot's frames (its decoder had kept the
    limits it was made with); only robots seen later got the new ones."""
    from cloudseg_ros.codec import PayloadLimits

    small, big = _jpeg_frames([(0, 0)])[0], _jpeg_frames([(5, 0)], first_seq=2, factor=2)[0]
    assert len(big.data) > len(small.data) + 10
    sink = Sink()
    svc = CloudService(
        pipeline, sink.mask, sink.fb, limits=PayloadLimits(max_bytes=len(small.data) + 10)
    ).start()
    try:
        svc.receive("car1", small)
        assert wait(lambda: len(sink.of("car1")[0]) == 1)
        svc.limits = PayloadLimits(max_bytes=10 * len(big.data))
        svc.receive("car1", big)
        assert wait(lambda: len(sink.of("car1")[1]) == 2)
        assert [f.error for f in sink.of("car1")[1] if f.seq == 2] == [""]
    finally:
        svc.stop()


def test_the_worker_survives_answers_that_cannot_go_out(pipeline) -> None:
    """A mask that could not be published, and then its error feedback neither: the exception
    left the worker's loop, the thread ended and the node served nothing more, saying OK."""
    frames = _jpeg_frames([(0, 0), (10, 0), (20, 0)])
    sink, failures = Sink(), {"mask": 1, "feedback": 1}

    def mask(m) -> None:
        if failures["mask"]:
            failures["mask"] -= 1
            raise RuntimeError("publisher gone")
        sink.mask(m)

    def feedback(f) -> None:
        if f.error and failures["feedback"]:
            failures["feedback"] -= 1
            raise RuntimeError("publisher gone")
        sink.fb(f)

    svc = CloudService(pipeline, mask, feedback).start()
    try:
        svc.receive("car1", frames[0])
        assert wait(lambda: svc.inference_errors >= 1)
        for f in frames[1:]:
            svc.receive("car1", f)
            assert wait(lambda f=f: any(m.frame.seq == f.seq for m in sink.of("car1")[0]))
        assert svc.serving
    finally:
        svc.stop()


def test_two_edges_with_one_robot_id_are_said(pipeline) -> None:
    """Two robots launched with the same robot_id: their numbering interleaves (1, 500, 2,
    501, ...), each jump back read as a restart, the counters went wrong and nothing was said."""
    a = _jpeg_frames([(i, 0) for i in range(0, 40, 10)])
    b = _jpeg_frames([(i, 0) for i in range(5, 45, 10)], first_seq=500)
    sink = Sink()
    svc = service(pipeline, sink, depth=8)
    try:
        assert not svc.stats().get("car1", {}).get("id_conflict")
        svc.receive("car1", a[0])  # one restart is no conflict
        svc.receive("car1", b[0])
        svc.receive("car1", a[1])
        assert not svc.stats()["car1"]["id_conflict"]
        for fa, fb in zip(a[2:], b[1:], strict=False):
            svc.receive("car1", fb)
            svc.receive("car1", fa)
        assert svc.stats()["car1"]["id_conflict"]
    finally:
        svc.stop()
