"""Frames lost between the bridge ends: the cloud asks for an IDR, the edge answers, masks recover.

The cloud side is the real thing: bridge_node (cloud mode, zenoh router) and cloud_node
as processes in their own ROS domain. The robot side is the edge's real send path
(:class:`EdgePipeline`, the logic inside edge_node, with real encoders) talking to the
cloud over a real zenoh session, as the robot's bridge does; between the two, frames are
dropped or truncated ON PURPOSE after encoding, which is exactly what a lossy hop between
the bridge ends does. (The project's netem relay is a TCP relay: on TCP, loss is a stall,
never a lost frame, so it cannot produce this case; edge_node's own wiring of feedback to
``request_key`` is tested in test_edge_node.py.)

Lock-step: each frame waits for its feedback before the next is made, so the test knows
exactly which frame the cloud refused and which one answered the IDR request.

Verifies: a hole in the sequence (one frame, two frames, a lost IDR) or an undecodable
frame makes the cloud refuse the next frame (no mask for it: no garbage) and ask for an IDR;
the edge's very next frame is an IDR and its mask comes back (recovery within one frame
after the IDR); a resolution or codec change mid-stream starts a new stream the cloud
follows without a single refused frame. Every mask that comes back equals the mask of the
same frame decoded from the complete stream (no frame is segmented from a broken decode).

Weights: the shipped ones, or ``CLOUDSEG_TEST_WEIGHTS_DIR`` (for a checkout whose models are
still being trained).
"""

from __future__ import annotations

import os
import queue
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import zenoh
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.bridge.session import ZenohSettings, build_config
from cloudseg_ros.codec import make_decoder
from cloudseg_ros.demo.graph import cloud_specs
from cloudseg_ros.demo.observer import free_port
from cloudseg_ros.demo.processes import ProcessGroup
from cloudseg_ros.edge.pipeline import EdgeKnobs, EdgePipeline, Sent
from cloudseg_ros.mask.codec import decode_mask
from cloudseg_ros.msg import Feedback, SegmentationMask
from cloudseg_ros.nodes.edge_node import encoded_frame
from cloudseg_ros.scene import DrivingScene

ROBOT = "car8"
W, H = 256, 128
WEIGHTS = os.environ.get("CLOUDSEG_TEST_WEIGHTS_DIR") or None
SR_MODEL = "cloudseg"  # the cloud's default; the reference below must run the same


@dataclass
class Outcome:
    sent: Sent
    feedback: Feedback | None  # None: the frame was dropped on the way
    mask: np.ndarray | None


class Robot:
    """The edge's send path and a zenoh session to the cloud, with a lossy hand-over between."""

    def __init__(self, endpoint: str) -> None:
        knobs = EdgeKnobs(key_threshold=0.0, useful_threshold=0.0, gop=1000)  # every frame a KEY selection
        self.edge = EdgePipeline(knobs, InFlightWindow(0), fps=10.0)
        self.session = zenoh.open(build_config(ZenohSettings(mode="client", connect=[endpoint])))
        self.uplink = self.session.declare_publisher(  # blocking, as the bridge: loss is ours to make
            f"{ROBOT}/cloudseg/uplink", congestion_control=zenoh.CongestionControl.BLOCK
        )
        self.feedback: queue.Queue[Feedback] = queue.Queue()
        self.masks: dict[int, SegmentationMask] = {}
        self.subs = [
            self.session.declare_subscriber(
                f"{ROBOT}/cloudseg/feedback",
                lambda s: self.feedback.put(deserialize_message(s.payload.to_bytes(), Feedback)),
            ),
            self.session.declare_subscriber(f"{ROBOT}/cloudseg/mask", self._on_mask),
        ]
        scene = DrivingScene(seed=8, width=W, height=H)
        self.scene = scene
        self.index = 0
        self.clean: dict[int, np.ndarray] = {}  # seq -> LR frame decoded from the COMPLETE stream
        self._clean_decoder = None
        self._clean_stream = None

    def _on_mask(self, sample) -> None:
        m = deserialize_message(sample.payload.to_bytes(), SegmentationMask)
        self.masks[m.seq] = m

    def _apply_feedback(self, fb: Feedback) -> None:
        """What edge_node does with each feedback message."""
        self.edge.acknowledge(fb.last_seq)
        if fb.request_idr:
            self.edge.request_key(about_seq=fb.last_seq)

    def step(self, deliver: str = "yes", timeout: float = 30.0) -> Outcome:
        """One camera frame: encode, then deliver it ("yes"), drop it ("drop") or deliver its
        first half ("truncate"); wait for the cloud's answer when it was delivered."""
        while not self.feedback.empty():  # answers to earlier frames (and the bridge's own)
            self._apply_feedback(self.feedback.get_nowait())
        rgb = self.scene.render(self.index).image
        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = 100 + self.index // 10, (self.index % 10) * 100_000_000
        sent, why = self.edge.process(rgb, self.index / 10)
        self.index += 1
        assert sent is not None, why
        self._decode_clean(sent)
        msg = encoded_frame(sent, header, ROBOT, self.index)
        if deliver == "drop":
            return Outcome(sent, None, None)
        if deliver == "truncate":
            msg.data = sent.packet.data[: len(sent.packet.data) // 2]
            msg.encoded_size = len(msg.data)
        self.uplink.put(serialize_message(msg))
        deadline = time.monotonic() + timeout
        while True:
            fb = self.feedback.get(timeout=max(0.01, deadline - time.monotonic()))
            self._apply_feedback(fb)
            if fb.last_seq == sent.seq and fb.header.frame_id != "bridge":
                break
        mask = None
        if not fb.error:
            end = time.monotonic() + 5.0
            while sent.seq not in self.masks and time.monotonic() < end:
                time.sleep(0.01)
            m = self.masks[sent.seq]
            mask = decode_mask(bytes(m.data), m.width, m.height)
        return Outcome(sent, fb, mask)

    def _decode_clean(self, sent: Sent) -> None:
        if (sent.stream_id, sent.packet.codec) != self._clean_stream:
            self._clean_decoder = make_decoder(sent.packet.codec)
            self._clean_stream = (sent.stream_id, sent.packet.codec)
        self.clean[sent.seq] = self._clean_decoder.decode(sent.packet.data, sent.width, sent.height)

    def close(self) -> None:
        for s in self.subs:
            s.undeclare()
        self.session.close()
        self.edge.close()


@pytest.fixture(scope="module")
def robot() -> Iterator[Robot]:
    domain = random.randrange(200, 230)
    endpoint = f"tcp/127.0.0.1:{free_port()}"
    group = ProcessGroup()
    overrides = {"cloud": {"sr_model": SR_MODEL, **({"weights_dir": WEIGHTS} if WEIGHTS else {})}}
    for spec in cloud_specs(domain, endpoint, overrides):
        group.start(spec, f"cloud.{spec.name}")
    r = None
    try:
        deadline = time.monotonic() + 60
        while True:  # the cloud bridge, then the cloud node for this robot, take a moment
            try:
                r = r or Robot(endpoint)
                break
            except Exception:
                if time.monotonic() > deadline or group.failed():
                    raise
                time.sleep(0.5)
        streak = 0
        while streak < 3:  # warm-up: until masks flow frame after frame
            if time.monotonic() > deadline or group.failed():
                logs = {label: group.log_text(label)[-1500:] for label in group.procs}
                pytest.fail(f"no masks from the cloud: {logs}")
            try:
                out = r.step(timeout=5.0)
            except queue.Empty:
                streak = 0
                continue
            streak = streak + 1 if out.mask is not None else 0
        yield r
    finally:
        if r is not None:
            r.close()
        group.close()


@pytest.fixture(scope="module")
def reference():
    """The cloud's pipeline, run here on frames decoded from the complete stream."""
    from cloudseg_ros.segmenter import CloudPipeline

    pipe = CloudPipeline(sr_model=SR_MODEL, weights_dir=WEIGHTS, num_threads=1)
    return lambda lr: pipe.process(lr, W, H, selection="key", robot_id="reference").class_ids


def assert_clean(robot: Robot, out: Outcome, reference) -> None:
    """A mask came back and it is the mask of the frame as the encoder meant it."""
    assert out.mask is not None, f"frame {out.sent.seq} refused: {out.feedback.error}"
    expected = reference(robot.clean[out.sent.seq])
    assert np.mean(out.mask == expected) > 0.999, (
        f"mask of frame {out.sent.seq} differs from the clean decode"
    )


@pytest.mark.parametrize(
    "loss",
    [["drop"], ["drop", "drop"], ["truncate"], ["drop", "lost-idr"]],
    ids=["one-frame", "two-frames", "undecodable", "idr-lost-too"],
)
def test_masks_recover_on_the_idr_after_a_loss(robot: Robot, reference, loss: list[str]) -> None:
    for _ in range(2):
        before = robot.step()
        assert_clean(robot, before, reference)
    refused = None
    for what in loss:
        if what == "lost-idr":
            # The request made by the refused frame is answered by an IDR that is lost too.
            refused = robot.step()
            assert refused.mask is None and refused.feedback.request_idr
            assert robot.step(deliver="drop").sent.packet.key_frame
        else:
            refused = robot.step(deliver=what)
    if loss[-1] != "truncate":
        refused = robot.step()  # the first frame after the hole: the cloud cannot decode it
    # (a truncated frame is itself the one the cloud cannot decode)
    assert refused.mask is None and refused.feedback.request_idr, refused.feedback
    assert not refused.sent.packet.key_frame
    idr = robot.step()  # the edge's next frame answers the request ...
    assert idr.sent.packet.key_frame
    assert_clean(robot, idr, reference)  # ... and its own mask comes back: recovered
    for _ in range(2):
        nxt = robot.step()
        assert not nxt.sent.packet.key_frame and not nxt.feedback.request_idr
        assert_clean(robot, nxt, reference)
    # The cloud counted exactly the holes and the damaged frame (frames refused while waiting
    # for the key frame are expected, not errors).
    dropped = loss.count("drop") + loss.count("lost-idr")
    assert nxt.feedback.frames_lost == before.feedback.frames_lost + dropped
    assert nxt.feedback.decode_errors == before.feedback.decode_errors + loss.count("truncate")


@pytest.mark.parametrize(
    "change", [{"downscale": 2}, {"codec": "jpeg"}, {"codec": "h265"}, {"downscale": 4, "codec": "h264"}]
)
def test_resolution_and_codec_changes_are_followed_without_a_refused_frame(
    robot: Robot, reference, change
) -> None:
    first = robot.step()
    robot.edge.update(**change)
    out = robot.step()
    assert out.sent.stream_id == first.sent.stream_id + 1 and out.sent.packet.key_frame
    assert not out.feedback.error and not out.feedback.request_idr
    assert_clean(robot, out, reference)
    for _ in range(2):
        last = robot.step()
        assert_clean(robot, last, reference)
    assert last.feedback.decode_errors == first.feedback.decode_errors
    assert last.feedback.frames_lost == first.feedback.frames_lost
