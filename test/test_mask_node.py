"""The mask node as a process: one mask per camera frame, fresh or flagged stale with its age.

Verifies, with the real `mask_node` executable: a downlink mask is published under its source
frame's header, restored to camera size, as fresh; a camera frame the edge skipped gets the
latest mask under ITS header, flagged stale with its age (camera stamp minus the mask's
source stamp); a frame that was sent but that the cloud will not segment (its feedback says
superseded) is answered stale the same way, and so are frames sent before the bridge's link
came back (its feedback settles them) and frames whose mask is not back within
unanswered_timeout_s; a frame's own mask arriving after it was answered stale is counted, not published twice;
after the camera changes size, stale masks come at the new size; masks go out in camera-stamp
order (a stale answer waits for an earlier frame's mask on its way, order_hold_s at most); the
counts and stale ages are in the diagnostics. With real frames of the
embedded scene: a skipped frame's stale mask is the latest mask propagated along the motion
from its source frame (what MaskPropagator gives, and closer to the new frame's ground truth
than the mask as it was), still flagged stale with the source's age; when the mask's source
frame is not in the camera buffer the mask is republished as it is and the fallback counted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode, wait_until
from cloudseg_ros.demo.processes import NodeSpec, ProcessGroup
from cloudseg_ros.mask.codec import ENCODING, encode_mask
from cloudseg_ros.mask.propagate import MaskPropagator
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.msg import EncodedFrame, Feedback, MaskInfo, SegmentationMask
from cloudseg_ros.nodes.image_conv import array_to_image, image_to_array
from cloudseg_ros.scene import DrivingScene

NS = "/car5"
W, H = 64, 32


def _header(t_ms: int) -> Header:
    h = Header(frame_id="camera")
    h.stamp.sec, h.stamp.nanosec = divmod(10**12 + t_ms * 10**6, 10**9)
    return h


@pytest.fixture(scope="module")
def graph() -> Iterator[DomainNode]:
    domain = random.randrange(100, 120)
    with ProcessGroup() as group:
        group.start(NodeSpec("mask_node", "mask", domain, NS.strip("/")), "mask")
        node = DomainNode(domain, "test_mask_driver")
        try:
            node.listen(Image, f"{NS}/segmentation/mask", RELIABLE)
            node.listen(MaskInfo, f"{NS}/segmentation/info", RELIABLE)
            node.listen(DiagnosticArray, "/diagnostics", RELIABLE)
            node.pubs = {  # type: ignore[attr-defined]
                "image": node.publisher(Image, f"{NS}/camera/image_raw", SENSOR),
                "mask": node.publisher(SegmentationMask, f"{NS}/cloudseg/mask", RELIABLE),
                "skipped": node.publisher(Header, f"{NS}/cloudseg/skipped", RELIABLE),
                "uplink": node.publisher(EncodedFrame, f"{NS}/cloudseg/uplink", RELIABLE),
                "feedback": node.publisher(Feedback, f"{NS}/cloudseg/feedback", RELIABLE),
            }
            for pub in node.pubs.values():
                assert wait_until(lambda pub=pub: pub.get_subscription_count() > 0, 20)
            yield node
        finally:
            node.close()


def _info_for(node: DomainNode, header: Header) -> MaskInfo | None:
    for i in node.messages(f"{NS}/segmentation/info"):
        if (i.header.stamp.sec, i.header.stamp.nanosec) == (header.stamp.sec, header.stamp.nanosec):
            return i
    return None


def _mask_for(node: DomainNode, header: Header) -> np.ndarray | None:
    for m in node.messages(f"{NS}/segmentation/mask"):
        if (m.header.stamp.sec, m.header.stamp.nanosec) == (header.stamp.sec, header.stamp.nanosec):
            return image_to_array(m)
    return None


def _diagnostic_values(node: DomainNode) -> dict[str, str]:
    for a in reversed(node.messages("/diagnostics")):
        for s in a.status:
            if s.name.startswith("car5/mask"):
                return {kv.key: kv.value for kv in s.values}
    return {}


def _send_mask(p: dict, header: Header, seq: int, ids: np.ndarray) -> None:
    m = SegmentationMask(header=header, robot_id="car5", seq=seq, width=ids.shape[1], height=ids.shape[0],
                         encoding=ENCODING)  # fmt: skip
    m.data = encode_mask(ids)
    p["uplink"].publish(EncodedFrame(header=header, seq=seq))
    p["mask"].publish(m)


def test_one_mask_per_frame_fresh_or_stale_with_age(graph: DomainNode) -> None:
    p = graph.pubs
    ids = np.zeros((H // 2, W // 2), np.uint8)
    ids[:, : W // 4] = 7
    t0 = _header(0)
    camera = array_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", t0)
    for _ in range(5):  # best effort, like a camera: repeated so that it is surely in the buffer
        p["image"].publish(camera)
        time.sleep(0.1)
    m = SegmentationMask(header=t0, robot_id="car5", seq=1, width=W // 2, height=H // 2, encoding=ENCODING)
    m.data = encode_mask(ids)
    p["uplink"].publish(EncodedFrame(header=t0, seq=1))
    p["mask"].publish(m)
    assert wait_until(lambda: _info_for(graph, t0) is not None, 10)
    fresh = _info_for(graph, t0)
    assert not fresh.stale and fresh.seq == 1
    out = graph.messages(f"{NS}/segmentation/mask")[-1]
    assert (out.width, out.height) == (W, H)  # restored to the camera frame's size

    skipped = _header(100)
    p["skipped"].publish(skipped)
    assert wait_until(lambda: _info_for(graph, skipped) is not None, 10)
    info = _info_for(graph, skipped)
    assert info.stale and info.seq == 1 and info.age_ms == pytest.approx(100.0)

    # Sent, then superseded on the cloud: no mask will come for it.
    superseded = _header(200)
    p["uplink"].publish(EncodedFrame(header=superseded, seq=2))
    link = Feedback(robot_id="car5", last_seq=1, request_idr=True, error="link (re)established")
    link.header.frame_id = "bridge"
    p["feedback"].publish(link)  # a link event settles frames up to 1 (answered): not frame 2
    p["feedback"].publish(Feedback(robot_id="car5", last_seq=2, error="superseded"))
    assert wait_until(lambda: _info_for(graph, superseded) is not None, 10)
    info = _info_for(graph, superseded)
    assert info.stale and info.age_ms == pytest.approx(200.0)
    assert sum(_info_for(graph, superseded) is i for i in graph.messages(f"{NS}/segmentation/info")) == 1

    def values() -> dict[str, str]:
        return _diagnostic_values(graph)

    assert wait_until(lambda: values().get("stale") == "2", 5), values()
    v = values()
    assert (
        v["fresh"] == "1"
        and v["stale_unserved"] == "1"
        and float(v["stale_age_max_ms"]) == pytest.approx(200.0)
    )


def _miou(truth: np.ndarray, pred: np.ndarray) -> float:
    cm = ConfusionMatrix()
    cm.update(truth, pred)
    return cm.miou()


def test_stale_masks_are_propagated_along_the_motion(graph: DomainNode) -> None:
    p = graph.pubs
    scene = DrivingScene(seed=7, width=256, height=128, variant="default")
    f0, f1 = scene.render(0), scene.render(1)
    t0, t1 = _header(10_000), _header(10_100)
    for _ in range(5):  # best effort, like a camera
        p["image"].publish(array_to_image(f0.image, "rgb8", t0))
        p["image"].publish(array_to_image(f1.image, "rgb8", t1))
        time.sleep(0.1)
    _send_mask(p, t0, 10, f0.labels)
    assert wait_until(lambda: _info_for(graph, t0) is not None, 10)
    p["skipped"].publish(t1)
    assert wait_until(lambda: _mask_for(graph, t1) is not None and _info_for(graph, t1) is not None, 10)
    info = _info_for(graph, t1)
    assert info.stale and info.seq == 10 and info.age_ms == pytest.approx(100.0)  # the source's age
    served = _mask_for(graph, t1)
    expected = MaskPropagator().propagate(0, f0.labels, 0, f0.image, 1, f1.image)
    assert served.shape == expected.shape
    assert np.mean(served == expected) > 0.999  # the node's propagation, not the mask as it was
    assert _miou(f1.labels, served) > _miou(f1.labels, f0.labels) + 0.05

    # A mask whose source frame never reached the camera buffer: republished as it is, counted.
    t2, t3 = _header(11_000), _header(11_100)
    _send_mask(p, t2, 11, f0.labels)
    assert wait_until(lambda: _info_for(graph, t2) is not None, 10)
    for _ in range(3):
        p["image"].publish(array_to_image(f1.image, "rgb8", t3))
        time.sleep(0.1)
    p["skipped"].publish(t3)
    assert wait_until(lambda: _mask_for(graph, t3) is not None, 10)
    assert np.array_equal(_mask_for(graph, t3), f0.labels)
    assert wait_until(
        lambda: int(_diagnostic_values(graph).get("propagate_fallback_no_source_frame", 0)) >= 1, 5
    )
    assert int(_diagnostic_values(graph)["propagated"]) >= 1


def test_a_mask_later_than_the_image_buffer_is_counted(graph: DomainNode) -> None:
    """80 camera frames go by before the mask of the first comes back: the node keeps 30
    (image_buffer), so that mask has no frame to overlay; it is counted (and logged once with
    the buffer it would take), not silently served without its overlay. (80, not 31: the
    camera topic is best effort, and a loaded node may miss some.)"""
    p = graph.pubs  # type: ignore[attr-defined]
    headers = [_header(900_000 + 100 * i) for i in range(80)]
    for h in headers:
        p["image"].publish(array_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", h))
        time.sleep(0.03)
    time.sleep(0.5)
    _send_mask(p, headers[0], 90_000, np.zeros((H, W), np.uint8))
    assert wait_until(lambda: int(_diagnostic_values(graph).get("late_for_image_buffer", 0)) >= 1, 10)


def _count_for(node: DomainNode, header: Header) -> int:
    stamp = (header.stamp.sec, header.stamp.nanosec)
    return sum(
        (i.header.stamp.sec, i.header.stamp.nanosec) == stamp
        for i in node.messages(f"{NS}/segmentation/info")
    )


def _set_param(node: DomainNode, name: str, value: float) -> None:
    client = node.node.create_client(SetParameters, f"{NS}/mask/set_parameters")
    assert client.wait_for_service(timeout_sec=10)
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=ParameterValue(
        type=ParameterType.PARAMETER_DOUBLE, double_value=value))])  # fmt: skip
    future = client.call_async(request)
    assert wait_until(future.done, 10) and future.result().results[0].successful


def test_sent_frames_no_mask_comes_for_are_answered_stale(graph: DomainNode) -> None:
    """A frame sent before the link came back (the bridge's feedback says nothing before it will
    be answered) and one whose mask never comes get the latest mask, stale (they got nothing,
    and an ExactTime consumer lost those camera frames); a frame's own mask arriving after
    that is not published (one mask per stamp) but is the latest mask."""
    p = graph.pubs
    ids = np.full((H, W), 3, np.uint8)
    t0, lost, never = _header(20_000), _header(20_100), _header(20_200)
    _send_mask(p, t0, 20, ids)
    assert wait_until(lambda: _info_for(graph, t0) is not None, 10)
    p["uplink"].publish(EncodedFrame(header=lost, seq=21))
    time.sleep(0.3)
    link = Feedback(robot_id="car5", last_seq=21, request_idr=True, error="link (re)established")
    link.header.frame_id = "bridge"
    p["feedback"].publish(link)
    assert wait_until(lambda: _info_for(graph, lost) is not None, 10)
    info = _info_for(graph, lost)
    assert info.stale and info.seq == 20 and info.age_ms == pytest.approx(100.0)
    late = np.full((H, W), 5, np.uint8)
    _send_mask(p, lost, 21, late)  # its mask after all (it was on its way): counted, not published
    assert wait_until(lambda: int(_diagnostic_values(graph).get("late_masks", 0)) >= 1, 10)
    assert _count_for(graph, lost) == 1
    skipped = _header(20_120)
    p["skipped"].publish(skipped)
    assert wait_until(lambda: _info_for(graph, skipped) is not None, 10)
    assert _info_for(graph, skipped).seq == 21  # the late mask is the latest information
    _send_mask(p, t0, 20, ids)  # a repeat of a mask already published: nothing new
    time.sleep(0.5)
    assert _count_for(graph, t0) == 1
    # The cloud's bridge asking for a key frame (a cloud node re-subscribed) settles nothing:
    # frames sent after the cloud node matched may still be served.
    served = _header(20_150)
    p["uplink"].publish(EncodedFrame(header=served, seq=23))
    asked = Feedback(robot_id="car5", last_seq=23, request_idr=True, error="cloud (re)subscribed")
    asked.header.frame_id = "bridge"
    p["feedback"].publish(asked)
    time.sleep(0.5)
    assert _info_for(graph, served) is None
    _send_mask(p, served, 23, late)
    assert wait_until(lambda: _info_for(graph, served) is not None, 10)
    assert not _info_for(graph, served).stale

    _set_param(graph, "unanswered_timeout_s", 0.5)
    try:
        p["uplink"].publish(EncodedFrame(header=never, seq=22))
        assert wait_until(lambda: _info_for(graph, never) is not None, 10)
        info = _info_for(graph, never)
        assert info.stale and info.seq == 23  # the newest mask (the late one was the latest before it)
        assert np.array_equal(_mask_for(graph, never), late)
    finally:
        _set_param(graph, "unanswered_timeout_s", 30.0)


def test_after_a_camera_size_change_stale_masks_come_at_the_new_size(graph: DomainNode) -> None:
    """The latest mask is of the old size until the first mask of the new size comes back; a
    stale mask published under a new-size frame's header must have that frame's size (a
    consumer indexes the image by mask pixels; propagation between the two sizes cannot run)."""
    p = graph.pubs
    t0, t1 = _header(30_000), _header(30_100)
    for _ in range(3):
        p["image"].publish(array_to_image(np.zeros((H, W, 3), np.uint8), "rgb8", t0))
        time.sleep(0.1)
    ids = np.zeros((H, W), np.uint8)
    ids[:, W // 2 :] = 2
    _send_mask(p, t0, 30, ids)
    assert wait_until(lambda: _info_for(graph, t0) is not None, 10)
    for _ in range(3):
        p["image"].publish(array_to_image(np.zeros((2 * H, 2 * W, 3), np.uint8), "rgb8", t1))
        time.sleep(0.1)
    p["skipped"].publish(t1)
    assert wait_until(lambda: _mask_for(graph, t1) is not None, 10)
    served = _mask_for(graph, t1)
    assert served.shape == (2 * H, 2 * W)
    assert np.array_equal(served[:, :W] == 0, np.ones((2 * H, W), bool)) and (served[:, W:] == 2).all()
    assert _info_for(graph, t1).stale
    assert wait_until(lambda: int(_diagnostic_values(graph).get("stale_resized", 0)) >= 1, 5)


def _stamps_from(node: DomainNode, start: int) -> list[tuple[int, bool, int]]:
    """(stamp in test ms, stale, seq) of the infos from the ``start``-th on, in arrival order."""
    out = []
    for i in node.messages(f"{NS}/segmentation/info")[start:]:
        t_ms = (i.header.stamp.sec * 10**9 + i.header.stamp.nanosec - 10**12) // 10**6
        out.append((t_ms, i.stale, i.seq))
    return out


def test_masks_go_out_in_camera_stamp_order(graph: DomainNode) -> None:
    """A skipped frame's stale answer went out at once while the mask of an earlier sent frame
    was on its way, so fresh masks followed stale ones of later frames: message_filters'
    ExactTime drops a tuple older than one it completed, and a driving stack pairing camera
    and mask lost most fresh masks. The stale answer now waits for it (and is served from
    it); an answer that never comes holds later ones order_hold_s at most."""
    p = graph.pubs
    ids = np.full((H, W), 4, np.uint8)
    start = len(graph.messages(f"{NS}/segmentation/info"))
    t0, t1, t2, t3 = _header(40_000), _header(40_100), _header(40_200), _header(40_300)
    _set_param(graph, "order_hold_s", 5.0)  # long enough for a loaded machine to look in between
    _send_mask(p, t0, 40, ids)
    assert wait_until(lambda: _info_for(graph, t0) is not None, 10)
    p["uplink"].publish(EncodedFrame(header=t1, seq=41))  # sent; its mask is on its way
    time.sleep(0.3)
    p["skipped"].publish(t2)
    p["skipped"].publish(t3)
    time.sleep(0.5)
    assert _info_for(graph, t2) is None  # waits for frame t1's answer
    _send_mask(p, t1, 41, np.full((H, W), 6, np.uint8))
    assert wait_until(lambda: _info_for(graph, t3) is not None, 10)
    assert _stamps_from(graph, start) == [(40_000, False, 40), (40_100, False, 41), (40_200, True, 41),
                                          (40_300, True, 41)]  # fmt: skip
    assert (_mask_for(graph, t2) == 6).all()  # served from the mask it waited for

    # A frame whose answer does not come holds the later ones order_hold_s, then they go.
    _set_param(graph, "order_hold_s", 1.0)
    lost, t5 = _header(40_400), _header(40_500)
    p["uplink"].publish(EncodedFrame(header=lost, seq=42))
    time.sleep(0.2)
    p["skipped"].publish(t5)
    t_skip = time.monotonic()
    assert wait_until(lambda: _info_for(graph, t5) is not None, 10)
    assert 0.7 < time.monotonic() - t_skip < 8.0
    assert wait_until(lambda: int(_diagnostic_values(graph).get("held_out_of_order", 0)) >= 1, 5)
    p["feedback"].publish(Feedback(robot_id="car5", last_seq=42, error="superseded"))  # settled
    assert wait_until(lambda: _info_for(graph, lost) is not None, 10)


def test_a_frame_lost_on_the_way_is_answered_once_a_later_one_is(graph: DomainNode) -> None:
    """A frame lost on the way (a bridge queue dropped it, or its mask or "superseded"
    feedback) got no answer until unanswered_timeout_s (30 s), then came out stamped 30 s
    back; with answers in stamp order it held every later mask order_hold_s (1 s). The cloud
    answers a robot's frames in order: a later frame's mask settles it at once (before that
    mask), a later frame's feedback ACK_GRACE_S after it (its mask may still be on the way)."""
    p = graph.pubs
    ids = np.full((H, W), 2, np.uint8)
    start = len(graph.messages(f"{NS}/segmentation/info"))
    lost, t1 = _header(50_000), _header(50_100)
    p["uplink"].publish(EncodedFrame(header=lost, seq=50))
    time.sleep(0.2)
    _set_param(graph, "order_hold_s", 5.0)
    t_mask = time.monotonic()
    _send_mask(p, t1, 51, ids)
    assert wait_until(lambda: _info_for(graph, t1) is not None, 10)
    assert time.monotonic() - t_mask < 4.0  # not held order_hold_s behind the lost frame
    _set_param(graph, "order_hold_s", 1.0)
    # the lost frame first (served from the mask before it: never from a later frame's), then that mask
    assert [(t, stale) for t, stale, _ in _stamps_from(graph, start)] == [(50_000, True), (50_100, False)]
    assert _info_for(graph, lost).seq != 51 and _info_for(graph, lost).age_ms > 0
    assert wait_until(lambda: int(_diagnostic_values(graph).get("lost_frames", 0)) >= 1, 5)

    # Masks lost too, only the cloud's feedback comes ("mask sent" for frame 53): both frames
    # are answered ACK_GRACE_S after it (their masks would have come by then).
    lost2, t3 = _header(50_200), _header(50_300)
    p["uplink"].publish(EncodedFrame(header=lost2, seq=52))
    p["uplink"].publish(EncodedFrame(header=t3, seq=53))
    time.sleep(0.2)
    p["feedback"].publish(Feedback(robot_id="car5", last_seq=53))
    t_ack = time.monotonic()
    assert wait_until(lambda: _info_for(graph, t3) is not None, 15)
    assert 1.5 < time.monotonic() - t_ack < 12.0
    assert _info_for(graph, lost2).stale and _info_for(graph, t3).stale
    # An edge that restarts numbers from 1 again: the old stream's frames still waiting are
    # answered at once, and the old acknowledgement settles nothing of the new stream.
    old, fresh_start = _header(50_400), _header(50_500)
    p["uplink"].publish(EncodedFrame(header=old, seq=60))
    time.sleep(0.2)
    p["uplink"].publish(EncodedFrame(header=fresh_start, seq=1))
    assert wait_until(lambda: _info_for(graph, old) is not None, 10)
    time.sleep(3.0)
    assert _info_for(graph, fresh_start) is None
    _send_mask(p, fresh_start, 1, ids)
    assert wait_until(lambda: _info_for(graph, fresh_start) is not None, 10)
    assert not _info_for(graph, fresh_start).stale
