"""mask_node: the robot's segmentation outputs, in the conventions of Isaac ROS / Autoware.

From each downlink mask (``cloudseg/mask``) it publishes, all with the SOURCE camera
image's header (original capture stamp, so time sync and AD-stack remaps work):
``segmentation/mask`` (mono8 class ids at camera resolution), ``segmentation/color``
(rgb8 palette), ``segmentation/overlay`` (rgb8 blend over the camera frame) and
``segmentation/info`` (fresh or stale, age, latency). For camera frames the edge did
not send (``cloudseg/skipped``), and for frames it sent that the cloud will not answer
with a mask (its feedback says superseded by a newer frame, refused or failed), it
republishes the latest mask under that frame's header, flagged stale with its age, so
consumers see one mask per camera frame. (Which sent frame had which header, it learns
from ``cloudseg/uplink``, robot-local.) Diagnostics count fresh and stale masks and the
age of the stale ones.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from cloudseg_ros.bridge import keys
from cloudseg_ros.errors import PayloadError
from cloudseg_ros.logutil import BurstLog
from cloudseg_ros.mask.codec import ENCODING, decode_mask
from cloudseg_ros.mask.render import colorize, overlay, restore
from cloudseg_ros.metrics.latency import LatencyWindow
from cloudseg_ros.msg import EncodedFrame, Feedback, MaskInfo, SegmentationMask
from cloudseg_ros.nodes.bridge_node import LINK_FEEDBACK_FRAME
from cloudseg_ros.nodes.common import CheckedSubscription, run_node
from cloudseg_ros.nodes.diagnostics import OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.image_conv import array_to_image, image_to_rgb
from cloudseg_ros.nodes.params import Param, ParameterTable

PARAMS = (
    Param("overlay_alpha", 0.5, "Weight of the palette colours in the overlay", range=(0.0, 1.0)),
    Param("publish_color", True, "Publish segmentation/color"),
    Param("publish_overlay", True, "Publish segmentation/overlay (needs the camera frame)"),
    Param("republish_stale", True, "Republish the latest mask for camera frames that were not sent"),
    Param("image_buffer", 30, "Camera frames kept to match masks for the overlay", range=(1, 600)),
    Param("max_mask_pixels", 4096 * 4096, "Largest mask accepted [px]", range=(1, 2**31 - 1)),
)  # fmt: skip


SENT_KEPT = 64  # sent frames remembered while their mask or feedback is on its way


def _stamp_ns(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


class MaskNode(Node):
    def __init__(self) -> None:
        super().__init__("mask")
        self.params = ParameterTable(self, PARAMS)
        self._images: OrderedDict[int, Image] = OrderedDict()  # source stamp -> camera image
        self._latest: tuple[Header, int, np.ndarray] | None = None  # (source header, seq, ids)
        self.latency = LatencyWindow()
        self.fresh = 0
        self.stale = 0
        self.stale_unserved = 0  # of which: frames sent that the cloud did not answer with a mask
        self.stale_age = LatencyWindow()
        self.rejected = 0
        self._sent: OrderedDict[int, Header] = OrderedDict()  # seq -> header, awaiting their mask
        self._bursts = BurstLog.for_logger(self.get_logger())
        out = QoSProfile(depth=5)
        self.pub_mask = self.create_publisher(Image, "segmentation/mask", out)
        self.pub_color = self.create_publisher(Image, "segmentation/color", out)
        self.pub_overlay = self.create_publisher(Image, "segmentation/overlay", out)
        self.pub_info = self.create_publisher(MaskInfo, "segmentation/info", out)
        self.create_subscription(Image, "camera/image_raw", self._on_image, qos_profile_sensor_data)
        self.mask_sub = CheckedSubscription(
            self, SegmentationMask, keys.MASK, self._on_mask, QoSProfile(depth=5), on_error=self._refuse
        )
        self.create_subscription(Header, keys.SKIPPED, self._on_skipped, QoSProfile(depth=20))
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(EncodedFrame, keys.UPLINK, self._on_uplink, reliable)
        self.feedback_sub = CheckedSubscription(
            self, Feedback, keys.FEEDBACK, self._on_feedback, reliable, on_error=self._refuse
        )
        Diagnostics(self, self._diagnostics)

    def _on_image(self, msg: Image) -> None:
        self._images[_stamp_ns(msg.header)] = msg
        while len(self._images) > self.params["image_buffer"]:
            self._images.popitem(last=False)

    def _on_mask(self, msg: SegmentationMask) -> None:
        try:
            if msg.encoding != ENCODING:
                raise PayloadError(f"mask encoding {msg.encoding!r}, expected {ENCODING!r}")
            ids = decode_mask(bytes(msg.data), msg.width, msg.height, self.params["max_mask_pixels"])
        except PayloadError as exc:
            self._refuse(f"mask {msg.seq} refused: {exc}")
            return
        self._bursts.success(keys.MASK)
        image = self._images.get(_stamp_ns(msg.header))
        if image is not None:
            ids = restore(ids, image.width, image.height)
        now_ns = self.get_clock().now().nanoseconds
        latency_ms = (now_ns - _stamp_ns(msg.header)) / 1e6
        self.latency.add(latency_ms)
        self.fresh += 1
        self._sent.pop(int(msg.seq), None)
        self._latest = (msg.header, msg.seq, ids)
        self._publish(msg.header, ids, image, msg.seq, stale=False, age_ms=0.0, latency_ms=latency_ms)

    def _refuse(self, reason: str) -> None:
        self.rejected += 1
        self._bursts.failure(keys.MASK, reason)

    def _on_uplink(self, msg: EncodedFrame) -> None:
        self._sent[int(msg.seq)] = msg.header
        while len(self._sent) > SENT_KEPT:
            self._sent.popitem(last=False)

    def _on_feedback(self, msg: Feedback) -> None:
        """A sent frame the cloud will not segment (superseded, refused, failed): answer it stale.
        Feedback the bridge makes itself (link events) concerns no particular frame."""
        if not msg.error or msg.header.frame_id == LINK_FEEDBACK_FRAME:
            return
        header = self._sent.pop(int(msg.last_seq), None)
        if header is not None and self._republish_stale(header):
            self.stale_unserved += 1

    def _on_skipped(self, header: Header) -> None:
        self._republish_stale(header)

    def _republish_stale(self, header: Header) -> bool:
        if not self.params["republish_stale"] or self._latest is None:
            return False
        source, seq, ids = self._latest
        age_ms = (_stamp_ns(header) - _stamp_ns(source)) / 1e6
        latency_ms = (self.get_clock().now().nanoseconds - _stamp_ns(header)) / 1e6
        self.stale += 1
        self.stale_age.add(age_ms)
        self._publish(header, ids, self._images.get(_stamp_ns(header)), seq, True, age_ms, latency_ms)
        return True

    def _publish(
        self,
        header: Header,
        ids: np.ndarray,
        image: Image | None,
        seq: int,
        stale: bool,
        age_ms: float,
        latency_ms: float,
    ) -> None:
        self.pub_mask.publish(array_to_image(ids, "mono8", header))
        color = None
        if self.params["publish_color"]:
            color = colorize(ids)
            self.pub_color.publish(array_to_image(color, "rgb8", header))
        if self.params["publish_overlay"] and image is not None:
            rgb = image_to_rgb(image)
            if rgb.shape[:2] == ids.shape:
                blend = overlay(rgb, colorize(ids) if color is None else color, self.params["overlay_alpha"])
                self.pub_overlay.publish(array_to_image(blend, "rgb8", header))
        info = MaskInfo(
            header=header, seq=seq, stale=stale, age_ms=float(age_ms), latency_ms=float(latency_ms)
        )
        self.pub_info.publish(info)

    def _diagnostics(self) -> list[Status]:
        values = {
            "fresh": self.fresh,
            "stale": self.stale,
            "stale_unserved": self.stale_unserved,
            "rejected": self.rejected,
            **self.latency.summary(),
            **{f"stale_age_{k}": v for k, v in self.stale_age.summary().items()},
        }
        level = WARN if self.rejected or self.fresh == 0 else OK
        message = f"p95 latency {values['p95_ms']:.0f} ms" if self.fresh else "no mask received yet"
        return [Status("masks", level, message, values)]


def main(args: list[str] | None = None) -> int:
    return run_node(MaskNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
