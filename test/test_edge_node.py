"""The edge node as a process, driven through ROS only: topics in, topics out, parameter services.

Verifies, with the real `edge_node` executable (real rclpy/FastDDS, real encoders):
parameters carry descriptors with ranges and units; out-of-range and wrong-type
values are refused with a reason; accepted knobs apply to the next frame (downscale and codec
start a fresh stream whose first frame is a key frame); JPEG is also offered on
camera/image_lr/compressed in compressed_image_transport's format and decodes the way that
plugin decodes it; frames the selector skips are announced on cloudseg/skipped with their
header; an IDR request in the feedback is answered by the next frame; camera images of an
unsupported encoding are refused (counted, node alive), a size change mid-stream restarts
the stream; a burst of 1000 frames in about a second keeps memory flat and the node serving.

No cloud: the test publishes the camera and the feedback itself (max_in_flight 0, so no
acknowledgement is needed). Small frames (256x128) keep it fast.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, SetParameters
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode, wait_until
from cloudseg_ros.demo.processes import NodeSpec, ProcessGroup
from cloudseg_ros.imaging import downscale
from cloudseg_ros.msg import EncodedFrame, Feedback
from cloudseg_ros.nodes.image_conv import array_to_image
from cloudseg_ros.paths import config_file
from cloudseg_ros.scene import DrivingScene

W, H = 256, 128
NS = "/car7"


class Edge:
    """One edge node process in a fresh domain, and a test node in the same domain."""

    def __init__(self) -> None:
        self.domain = random.randrange(160, 200)
        self.group = ProcessGroup()
        spec = NodeSpec("edge_node", "edge", self.domain, NS.strip("/"), (config_file("robot.yaml"),),
                        {"max_in_flight": 0, "camera_fps": 10.0})  # fmt: skip
        self.proc = self.group.start(spec, "edge")
        self.node = DomainNode(self.domain, "test_edge_driver")
        self.node.listen(EncodedFrame, f"{NS}/cloudseg/uplink", RELIABLE)
        self.node.listen(Header, f"{NS}/cloudseg/skipped", RELIABLE)
        self.node.listen(CompressedImage, f"{NS}/camera/image_lr/compressed", RELIABLE)
        self.node.listen(DiagnosticArray, "/diagnostics", RELIABLE)
        self.camera = self.node.publisher(Image, f"{NS}/camera/image_raw", SENSOR)
        self.feedback = self.node.publisher(Feedback, f"{NS}/cloudseg/feedback", RELIABLE)
        scene = DrivingScene(seed=5, width=W, height=H)
        self.frames = [scene.render(i).image for i in range(12)]
        self._t_ns = 1_000 * 10**9
        self._n = 0
        self.published: dict[tuple[int, int], np.ndarray] = {}  # stamp -> frame

    def send(self, rgb: np.ndarray | None = None, encoding: str = "rgb8", step_s: float = 0.1) -> Header:
        """Publish one camera frame (the next scene frame unless given), stamped ``step_s`` after the last."""
        if rgb is None:
            rgb = self.frames[self._n % len(self.frames)]
            self._n += 1
        img = array_to_image(np.ascontiguousarray(rgb), "rgb8")
        img.encoding = encoding
        self._t_ns += round(step_s * 1e9)
        img.header.stamp.sec, img.header.stamp.nanosec = divmod(self._t_ns, 10**9)
        img.header.frame_id = "camera"
        self.published[(img.header.stamp.sec, img.header.stamp.nanosec)] = rgb
        self.camera.publish(img)
        return img.header

    def uplink(self) -> list[EncodedFrame]:
        return self.node.messages(f"{NS}/cloudseg/uplink")

    def send_until_uplink(self, count: int = 1, timeout: float = 20.0) -> list[EncodedFrame]:
        """Keep the camera going (10 Hz) until ``count`` more frames went up."""
        target = len(self.uplink()) + count
        deadline = time.monotonic() + timeout
        while len(self.uplink()) < target and time.monotonic() < deadline:
            self.send()
            time.sleep(0.1)
        return self.uplink()

    def settled_uplink(self, quiet: float = 0.5, timeout: float = 10.0) -> list[EncodedFrame]:
        """The uplink once no frame has come for ``quiet`` s (one sent just before may still be
        on its way through the edge)."""
        deadline = time.monotonic() + timeout
        seen = len(self.uplink())
        while time.monotonic() < deadline:
            time.sleep(quiet)
            if len(self.uplink()) == seen:
                break
            seen = len(self.uplink())
        return self.uplink()

    def set(self, name: str, value: bool | int | float | str) -> tuple[bool, str]:
        p = ParameterMsg(name=name)
        if isinstance(value, bool):
            p.value = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
        elif isinstance(value, int):
            p.value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
        elif isinstance(value, float):
            p.value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        else:
            p.value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        result = self._call(SetParameters, "set_parameters", SetParameters.Request(parameters=[p]))
        return result.results[0].successful, result.results[0].reason

    def describe(self, name: str):
        return self._call(
            DescribeParameters, "describe_parameters", DescribeParameters.Request(names=[name])
        ).descriptors[0]

    def _call(self, srv, name: str, request):
        client = self.node.node.create_client(srv, f"{NS}/edge/{name}")
        try:
            assert client.wait_for_service(timeout_sec=20), f"{NS}/edge/{name} not available"
            future = client.call_async(request)
            assert wait_until(future.done, 10)
            return future.result()
        finally:
            self.node.node.destroy_client(client)

    def diagnostic(self, key: str) -> float:
        """The edge's latest diagnostics value ``key`` (0 before the first)."""
        for array in reversed(self.node.messages("/diagnostics")):
            for status in array.status:
                if status.name.startswith(f"{NS.strip('/')}/edge"):
                    return float({kv.key: kv.value for kv in status.values}[key])
        return 0.0

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def close(self) -> None:
        self.node.close()
        self.group.close()


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    e = Edge()
    try:
        if len(e.send_until_uplink(1, timeout=40)) < 1:
            pytest.fail("edge node sent nothing:\n" + e.group.log_text("edge")[-2000:])
        yield e
    finally:
        e.close()


def test_descriptors_have_ranges_and_units(edge: Edge) -> None:
    d = edge.describe("bitrate_kbps")
    assert d.integer_range[0].from_value == 10 and "[kbit/s]" in d.description
    d = edge.describe("useful_threshold")
    assert d.floating_point_range[0].to_value == 1.0 and "skipped" in d.description
    assert "Must be one of" in edge.describe("codec").additional_constraints


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("downscale", 0, ""),
        ("bitrate_kbps", 5, ""),
        ("jpeg_quality", 101, ""),
        ("fps_cap", -1.0, ""),
        ("codec", "vp9", "must be one of"),
        ("downscale", "two", "type"),  # wrong type
        ("fps_cap", "5", "type"),  # a string for a double parameter
        ("useful_threshold", 1.5, "useful_threshold"),
    ],
)
def test_bad_parameter_values_refused_with_reason(edge: Edge, name: str, value, why: str) -> None:
    ok, reason = edge.set(name, value)
    assert not ok and reason
    assert why.lower() in reason.lower()


def test_values_as_people_type_them_are_taken(edge: Edge) -> None:
    """`ros2 param set /car7/edge fps_cap 5` sends an integer: taken as 5.0 (rclpy alone refused it
    as the wrong type). The two thresholds are independent, so setting them one at a time works
    in either order (a useful_threshold above key_threshold was refused, and a file listing key
    first was applied half)."""
    assert edge.set("fps_cap", 5) == (True, "")
    assert edge.set("fps_cap", 0) == (True, "")
    assert edge.set("useful_threshold", 0.3) == (True, "")  # above key_threshold (0.1)
    assert edge.set("key_threshold", 0.3) == (True, "")
    assert edge.set("key_threshold", 0.1) == (True, "")
    assert edge.set("useful_threshold", 0.1) == (True, "")


def test_a_codec_that_cannot_encode_the_camera_at_that_size_is_refused(edge: Edge) -> None:
    """H.265 at x16 of this 256x128 camera is 16x8, which libx265 cannot encode: refused with
    the encoder's reason when set (it was accepted, and every later frame failed)."""
    edge.send_until_uplink(1)  # the edge knows the camera's size
    assert edge.set("downscale", 16)[0]
    ok, reason = edge.set("codec", "h265")
    assert not ok and "h265 cannot encode 16x8" in reason, reason
    assert edge.set("downscale", 4)[0]
    assert edge.send_until_uplink(1)[-1].codec == "h264"


def test_knob_changes_apply_to_next_frame_with_fresh_stream(edge: Edge) -> None:
    before = edge.send_until_uplink(1)[-1]
    assert (before.width, before.height) == (W // 4, H // 4)
    assert edge.set("downscale", 2)[0]
    after = edge.send_until_uplink(1)[-1]
    assert (after.width, after.height) == (W // 2, H // 2)
    assert after.key_frame and after.stream_id == before.stream_id + 1

    assert edge.set("codec", "jpeg")[0]
    jpeg = edge.send_until_uplink(1)[-1]
    assert jpeg.codec == "jpeg" and jpeg.key_frame and jpeg.stream_id == after.stream_id + 1
    # image_transport interoperability: what compressed_image_transport's decoder does with it.
    wait_until(lambda: edge.node.messages(f"{NS}/camera/image_lr/compressed"), 10)
    c = edge.node.messages(f"{NS}/camera/image_lr/compressed")[-1]
    assert c.format == "rgb8; jpeg compressed bgr8"
    bgr = cv2.imdecode(np.frombuffer(bytes(c.data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert bgr.shape == (H // 2, W // 2, 3)
    source_encoding = c.format.split(";")[0]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if source_encoding == "rgb8" else bgr
    source = downscale(edge.published[(c.header.stamp.sec, c.header.stamp.nanosec)], 2).astype(np.float32)
    error = np.abs(rgb - source).mean()
    assert error < 6, error  # JPEG q80 of the very frame, colours in the right order:
    assert np.abs(rgb[..., ::-1] - source).mean() > error + 2

    assert edge.set("codec", "h264")[0] and edge.set("downscale", 4)[0]
    back = edge.send_until_uplink(1)[-1]
    assert back.codec == "h264" and back.key_frame and (back.width, back.height) == (W // 4, H // 4)


def test_idr_request_answered_by_next_frame(edge: Edge) -> None:
    edge.send_until_uplink(3)
    frames = edge.settled_uplink()
    assert not frames[-1].key_frame
    fb = Feedback(robot_id="car7", last_seq=frames[-1].seq, request_idr=True)
    edge.feedback.publish(fb)
    time.sleep(0.5)
    nxt = edge.send_until_uplink(1)[-1]
    assert nxt.key_frame and nxt.seq == frames[-1].seq + 1


def test_still_camera_frames_are_skipped_and_announced(edge: Edge) -> None:
    still = edge.frames[0]
    edge.send(still)  # new reference (scene frame far from the previous one)
    time.sleep(0.3)
    n_up = len(edge.uplink())
    headers = []
    for _ in range(8):  # paced: the camera subscription keeps only the newest 2 frames
        headers.append(edge.send(still))
        time.sleep(0.1)

    def announced() -> int:
        skipped = {(h.stamp.sec, h.stamp.nanosec) for h in edge.node.messages(f"{NS}/cloudseg/skipped")}
        return sum((h.stamp.sec, h.stamp.nanosec) in skipped for h in headers)

    assert wait_until(lambda: announced() >= 7, 10), announced()
    assert len(edge.uplink()) <= n_up + 1  # identical frames are not sent (max_key_interval is 30)


def test_bad_images_refused_size_change_restarts(edge: Edge) -> None:
    edge.send(np.zeros((H, W, 3), np.uint8), encoding="mono16")  # 2 bytes/pixel claimed, 3 given
    edge.send(np.zeros((H, W, 3), np.uint8), encoding="bayer_rggb16")  # an encoding nothing here converts
    assert wait_until(lambda: "refused" in edge.group.log_text("edge"), 10)
    assert wait_until(lambda: edge.diagnostic("rejected_images") >= 2, 10)
    edge.send_until_uplink(1)
    last = edge.settled_uplink()[-1]
    big = DrivingScene(seed=6, width=2 * W, height=2 * H).render(0).image
    # Sent until it goes up: the camera topic is best effort, a loaded machine may lose one.
    assert wait_until(lambda: (edge.send(big), edge.uplink()[-1].original_width == 2 * W)[1], 10)
    f = next(x for x in edge.uplink() if x.original_width == 2 * W)  # the first of the new size
    assert f.key_frame and f.stream_id == last.stream_id + 1 and f.width == W // 2
    assert edge.proc.poll() is None


def test_burst_keeps_memory_flat(edge: Edge) -> None:
    """1000 frames in about a second, twice: the first burst may grow pools to their working
    size; the second must not grow memory at all (bounded queues, newest frames kept)."""

    def burst() -> tuple[float, int]:
        up0 = len(edge.uplink())
        t0 = time.monotonic()
        for i in range(1000):
            edge.send(edge.frames[i % len(edge.frames)])
            time.sleep(0.001)
        seconds = time.monotonic() - t0
        time.sleep(2.0)
        return seconds, len(edge.uplink()) - up0

    edge.send_until_uplink(2)
    rss0 = edge.rss_kb()
    s1, sent1 = burst()
    rss1 = edge.rss_kb()
    s2, sent2 = burst()
    rss2 = edge.rss_kb()
    print(
        f"bursts of 1000 frames in {s1:.2f} / {s2:.2f} s: {sent1} / {sent2} sent, edge RSS {rss0} -> {rss1} -> {rss2} kB"
    )
    assert edge.proc.poll() is None
    assert rss1 - rss0 < 40_000, f"first burst: RSS {rss0} -> {rss1} kB"
    assert rss2 - rss1 < 8_000, f"second burst: RSS {rss1} -> {rss2} kB"
    assert 0 < sent1 <= 1000 and 0 < sent2 <= 1000
    assert len(edge.send_until_uplink(2)) >= 2  # still serving


def test_a_camera_faster_than_camera_fps_is_named(edge: Edge) -> None:
    """Frames stamped 30 Hz apart on an edge told 10 Hz: the uplink would carry 3x
    bitrate_kbps; the edge says so once, with the fix, and its diagnostics warn."""
    for _ in range(35):  # stamped 30 Hz apart, published slower so that the node gets every one
        edge.send(step_s=1 / 30)
        time.sleep(0.08)
    warned = "camera frames arrive at 30.0 Hz but camera_fps is 10"
    assert wait_until(lambda: warned in edge.group.log_text("edge"), 10), edge.group.log_text("edge")[-2000:]
    assert "camera_fps 30.0" in edge.group.log_text("edge")

    def measured() -> float:
        return edge.diagnostic("camera_fps_measured")

    assert wait_until(lambda: 28 < measured() < 32, 5), measured()
    for _ in range(35):  # back at its rate: no second warning
        edge.send()
        time.sleep(0.08)
    assert wait_until(lambda: 9 < measured() < 11, 5), measured()
    assert edge.group.log_text("edge").count(warned) == 1
