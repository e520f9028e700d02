"""mask_node: the robot's segmentation outputs, in the conventions of Isaac ROS / Autoware.

From each downlink mask (``cloudseg/mask``) it publishes, all with the SOURCE camera
image's header (original capture stamp, so time sync and AD-stack remaps work):
``segmentation/mask`` (mono8 class ids at camera resolution), ``segmentation/color``
(rgb8 palette), ``segmentation/overlay`` (rgb8 blend over the camera frame) and
``segmentation/info`` (fresh or stale, age, latency). For camera frames the edge did
not send (``cloudseg/skipped``), and for frames it sent that the cloud will not answer
with a mask (its feedback says superseded by a newer frame, refused or failed; the link
was re-established after they left; the cloud acknowledged a later frame ACK_GRACE_S ago;
or none came within ``unanswered_timeout_s``), it
republishes the latest mask under that frame's header, flagged stale with its age, so
consumers see one mask per camera frame from the first mask on (before it there is nothing
to publish). A frame's own mask that comes back after its frame was answered stale is not
published (one message per stamp), but counted (``late_masks``, a warning) and used as the
latest mask. The timeout is long (30 s) so that measured latencies are real ones: a slow
link's masks come back as fresh. Answers go out in camera-stamp order: one waits while an
earlier sent frame's mask is on its way (``order_hold_s`` at most), as consumers pairing by
stamp need. (Which sent frame had which header, it learns from ``cloudseg/uplink``,
robot-local.)

With ``propagate_stale`` (default) a stale mask is first moved along the motion between
its source camera frame and the frame it is published for (cloudseg_ros/mask/propagate.py:
~2 ms at 1024x512, ~5 ms at 2048x1024; sending every other frame of the moving embedded
scene costs 0.045 mIoU with the masks republished as they are, 0.007 with them propagated,
bench/selector.py). Both frames come from the node's camera
buffer; when either is missing (evicted, dropped) or the sizes disagree, the mask is
republished unchanged and the reason counted. A camera whose size changed gets the latest
mask resized to its new size (nearest), until the first mask of the new size comes back. A skipped frame's header can overtake its
own camera image (two topics): it then waits for the image, at most ``PENDING_S``.
Diagnostics count fresh, stale and propagated masks, the fallbacks, the age of the stale
masks and the propagation time.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from cloudseg_ros.bridge import keys
from cloudseg_ros.errors import PayloadError
from cloudseg_ros.logutil import BurstLog
from cloudseg_ros.mask.codec import ENCODING, decode_mask
from cloudseg_ros.mask.propagate import MaskPropagator
from cloudseg_ros.mask.render import colorize, overlay, restore
from cloudseg_ros.metrics.latency import LatencyWindow
from cloudseg_ros.msg import EncodedFrame, Feedback, MaskInfo, SegmentationMask
from cloudseg_ros.nodes.bridge_node import LINK_FEEDBACK_FRAME, LINK_UP
from cloudseg_ros.nodes.common import CheckedSubscription, run_node
from cloudseg_ros.nodes.diagnostics import OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.image_conv import array_to_image, image_to_rgb
from cloudseg_ros.nodes.params import Param, ParameterTable

PARAMS = (
    Param("overlay_alpha", 0.5, "Weight of the palette colours in the overlay", range=(0.0, 1.0)),
    Param("publish_color", True, "Publish segmentation/color"),
    Param("publish_overlay", True, "Publish segmentation/overlay (needs the camera frame)"),
    Param("republish_stale", True, "Republish the latest mask for camera frames that were not sent"),
    Param("propagate_stale", True, "Move a republished mask along the motion from its source camera frame "
          "to the frame it is published for (else it is republished as it is)"),
    Param("image_buffer", 30, "Camera frames kept to match masks for the overlay and to propagate stale "
          "masks (a mask's source frame must still be here) [frames]", range=(1, 600)),
    Param("max_mask_pixels", 4096 * 4096, "Largest mask accepted [px]", range=(1, 2**31 - 1)),
    Param("unanswered_timeout_s", 30.0, "A sent frame whose mask is not back after this long is answered "
          "with the latest mask, stale (its own mask, should it come later, is counted, not published) [s]",
          range=(0.1, 30.0)),
    Param("order_hold_s", 1.0, "Publish in camera-stamp order: a frame's mask waits while an earlier sent "
          "frame's is on its way, at most this long (then it goes out of order); 0 = each at once [s]",
          range=(0.0, 30.0)),
)  # fmt: skip


SENT_KEPT = 1024  # sent frames remembered while their mask or feedback is on its way (> 30 s at 30 Hz)
ANSWERED_KEPT = 1024  # frames answered (fresh or stale): a mask or uplink echo after it is no new frame
PENDING_S = 0.2  # longest a stale frame waits for its camera image before it is served unmoved
PENDING_KEPT = 16
# A sent frame still unanswered this long after the cloud acknowledged a later one (its
# feedback's last_seq is cumulative) was lost on the way (a bridge queue dropped it or its
# mask): answered stale then, not after unanswered_timeout_s (30 s late, stamped 30 s back).
ACK_GRACE_S = 2.0


def _stamp_ns(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def _frame_key(seq: int, header: Header) -> tuple[int, int]:
    return int(seq), _stamp_ns(header)


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
        self.late_for_buffer = 0  # fresh masks whose camera frame had already left image_buffer
        # Frames by (seq, source stamp): an edge that restarts numbers its frames from 1 again.
        # Sent frames awaiting their mask -> (header, node time in ns it was sent):
        self._sent: OrderedDict[tuple[int, int], tuple[Header, int]] = OrderedDict()
        self._answered: OrderedDict[tuple[int, int], bool] = OrderedDict()  # -> answered stale
        self.late_masks = 0  # masks of frames already answered stale (not published)
        self.stale_resized = 0  # stale masks resized to a camera whose size changed
        self.propagator = MaskPropagator()
        self.propagated = 0
        self.propagate_fallback: Counter[str] = Counter()  # reason -> stale masks served unmoved
        self.propagate_ms = LatencyWindow()
        # stamp -> (header, unserved, node time in ns): stale frames waiting for their image
        self._pending: OrderedDict[int, tuple[Header, bool, int]] = OrderedDict()
        # stamp -> (node time in ns it was ready, how to publish it): answers waiting for the
        # answers of earlier sent frames (order_hold_s)
        self._held: dict[int, tuple[int, Callable[[], None]]] = {}
        self.held_out_of_order = 0  # answers that waited order_hold_s and went out of order
        self._acks: deque[tuple[int, int]] = deque(
            maxlen=256
        )  # (last_seq, node time) of the cloud's feedback
        self._settled_below = 0  # sent frames with a lower seq have been acknowledged past
        self.lost_frames = 0  # sent frames answered stale after a later frame's acknowledgement
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
        self.create_timer(PENDING_S / 2, self._on_timer)
        Diagnostics(self, self._diagnostics)

    def _on_image(self, msg: Image) -> None:
        stamp = _stamp_ns(msg.header)
        self._images[stamp] = msg
        while len(self._images) > self.params["image_buffer"]:
            self._images.popitem(last=False)
        self._serve_pending(up_to=stamp)

    def _on_mask(self, msg: SegmentationMask) -> None:
        try:
            if msg.encoding != ENCODING:
                raise PayloadError(f"mask encoding {msg.encoding!r}, expected {ENCODING!r}")
            ids = decode_mask(bytes(msg.data), msg.width, msg.height, self.params["max_mask_pixels"])
        except PayloadError as exc:
            self._refuse(f"mask {msg.seq} refused: {exc}")
            return
        self._bursts.success(keys.MASK)
        frame = _frame_key(msg.seq, msg.header)
        self._sent.pop(frame, None)
        answered = self._answered.get(frame)
        if answered is not None:  # its frame has its mask: a stale one (late) or this one (a repeat)
            if answered:
                self.late_masks += 1
                self._bursts.failure(
                    "late", f"mask {msg.seq} came {self._age_ms(msg.header) / 1e3:.1f} s after its frame, "
                    "which was answered stale already (unanswered_timeout_s): not published",
                )  # fmt: skip
                if self._latest is None or _stamp_ns(msg.header) >= _stamp_ns(self._latest[0]):
                    self._latest = (msg.header, msg.seq, ids)  # still the newest information
            return
        self._mark_answered(frame, stale=False)
        self._settle_before(frame)
        image = self._images.get(_stamp_ns(msg.header))
        if image is not None:
            ids = restore(ids, image.width, image.height)
        else:
            self._check_buffer_depth(_stamp_ns(msg.header))
        self._latest = (msg.header, msg.seq, ids)  # by arrival, not stamp: a looping replay's go back
        self._hold(msg.header, lambda: self._publish_fresh(msg.header, msg.seq, ids, image))

    def _publish_fresh(self, header: Header, seq: int, ids: np.ndarray, image: Image | None) -> None:
        latency_ms = self._age_ms(header)
        self.latency.add(latency_ms)
        self.fresh += 1
        self._publish(header, ids, image, seq, stale=False, age_ms=0.0, latency_ms=latency_ms)

    def _hold(self, header: Header, publish: Callable[[], None]) -> None:
        """Publish now, or once the sent frames before this one are answered (or order_hold_s
        has passed): stale answers of skipped frames go out at once while a mask is on its way,
        so without this a fresh mask followed stale masks of later frames, and a consumer
        pairing image and mask by stamp (message_filters ExactTime drops what is older than a
        pair it completed) lost most fresh masks. A stale answer that waited is served from the
        newest mask of a frame at or before it when it goes out: the one it waited for."""
        self._held[_stamp_ns(header)] = (self.get_clock().now().nanoseconds, publish)
        self._release()

    def _release(self) -> None:
        """Publish the held answers in stamp order up to the first one an earlier sent frame
        still holds back (unless it has waited order_hold_s)."""
        if not self._held:
            return
        blocking = min((_stamp_ns(header) for header, _ in self._sent.values()), default=None)
        deadline = self.get_clock().now().nanoseconds - int(self.params["order_hold_s"] * 1e9)
        for stamp in sorted(self._held):
            since, publish = self._held[stamp]
            if blocking is not None and stamp > blocking:
                if since > deadline:
                    return
                self.held_out_of_order += self.params["order_hold_s"] > 0
            del self._held[stamp]
            publish()

    def _age_ms(self, header: Header) -> float:
        """Robot clock now minus the frame's capture stamp."""
        return (self.get_clock().now().nanoseconds - _stamp_ns(header)) / 1e6

    def _check_buffer_depth(self, stamp_ns: int) -> None:
        """A mask later than the camera frames the node keeps has no overlay, and stale masks
        after it cannot be propagated: say so once, with the buffer it would take."""
        buffered = len(self._images)
        if buffered < self.params["image_buffer"] or stamp_ns >= next(iter(self._images), stamp_ns):
            return  # a frame this node never saw (started later, another camera), not a short buffer
        self.late_for_buffer += 1
        if self.late_for_buffer == 1:
            stamps = list(self._images)
            span_s = (stamps[-1] - stamps[0]) / 1e9
            age_s = (stamps[-1] - stamp_ns) / 1e9
            want = int(buffered * age_s / span_s) + 1 if span_s > 0 else 2 * buffered
            self.get_logger().warn(
                f"a mask arrived {age_s:.1f} s after its camera frame, which image_buffer "
                f"({buffered} frames, {span_s:.1f} s here) no longer holds: no overlay for it and "
                f"stale masks after it are not propagated; set image_buffer to {want} or more"
            )

    def _refuse(self, reason: str) -> None:
        self.rejected += 1
        self._bursts.failure(keys.MASK, reason)

    def _on_uplink(self, msg: EncodedFrame) -> None:
        frame = _frame_key(msg.seq, msg.header)
        if msg.seq <= self._settled_below:  # the edge restarted and numbers from 1 again
            self._settled_below = 0
            self._acks.clear()
            # the old stream's frames still waiting (their numbers are not the new stream's)
            for old in [f for f in self._sent if f[1] < frame[1]]:
                self.lost_frames += 1
                self._unanswered(old, self._sent.pop(old))
        if frame in self._answered:
            return  # its mask came first (two topics)
        self._sent[frame] = (msg.header, self.get_clock().now().nanoseconds)
        while len(self._sent) > SENT_KEPT:
            self._unanswered(*self._sent.popitem(last=False))

    def _on_feedback(self, msg: Feedback) -> None:
        """A sent frame the cloud will not segment (superseded, refused, failed): answer it stale.
        The bridge's own feedback on a link (re)established settles every frame sent before it:
        no cloud will answer those. (Feedback names a frame by its sequence number alone.)"""
        if not msg.error:
            if msg.header.frame_id != LINK_FEEDBACK_FRAME:
                self._acks.append((int(msg.last_seq), self.get_clock().now().nanoseconds))
            return
        link = msg.header.frame_id == LINK_FEEDBACK_FRAME
        if link and msg.error != LINK_UP:
            return  # the cloud's bridge asking for a key frame: frames after it may still be served
        for frame in [f for f in self._sent if f[0] == msg.last_seq or (link and f[0] < msg.last_seq)]:
            self._unanswered(frame, self._sent.pop(frame))
        self._release()

    def _on_timer(self) -> None:
        """Sent frames past ``unanswered_timeout_s`` are answered stale; waiting stale frames served."""
        deadline = self.get_clock().now().nanoseconds - int(self.params["unanswered_timeout_s"] * 1e9)
        while self._sent and next(iter(self._sent.values()))[1] <= deadline:
            self._unanswered(*self._sent.popitem(last=False))
        self._settle_acknowledged()
        self._serve_pending()
        self._release()

    def _settle_before(self, frame: tuple[int, int]) -> None:
        """Sent frames before ``frame`` still waiting when its mask came will get none: the
        cloud answers a robot's frames in order and its masks come back in order, so theirs
        was superseded (its feedback lost in a bridge queue) or lost. Answered stale now, before
        this mask: waiting for them held this mask back order_hold_s (1 s) behind a loss."""
        seq, stamp = frame
        for earlier in [f for f in self._sent if f[0] < seq and f[1] < stamp]:
            self.lost_frames += 1
            self._unanswered(earlier, self._sent.pop(earlier))

    def _settle_acknowledged(self) -> None:
        """Sent frames the cloud acknowledged past ACK_GRACE_S ago and that got no answer of
        their own: lost on the way, answered stale now."""
        grace = self.get_clock().now().nanoseconds - int(ACK_GRACE_S * 1e9)
        while self._acks and self._acks[0][1] <= grace:
            self._settled_below = max(self._settled_below, self._acks.popleft()[0])
        for frame in [f for f in self._sent if f[0] <= self._settled_below]:
            self.lost_frames += 1
            self._unanswered(frame, self._sent.pop(frame))

    def _unanswered(self, frame: tuple[int, int], sent: tuple[Header, int]) -> None:
        """A sent frame no mask will come for (or none in time): its latest mask, stale."""
        self._mark_answered(frame, stale=True)
        self._republish_stale(sent[0], unserved=True)

    def _mark_answered(self, frame: tuple[int, int], stale: bool) -> None:
        self._answered[frame] = stale
        while len(self._answered) > ANSWERED_KEPT:
            self._answered.popitem(last=False)

    def _on_skipped(self, header: Header) -> None:
        self._republish_stale(header, unserved=False)

    def _republish_stale(self, header: Header, unserved: bool) -> None:
        if not self.params["republish_stale"] or self._latest is None:
            return
        stamp = _stamp_ns(header)
        newest = max(self._images, default=None)  # stamps, not arrival order (a replay may loop)
        if (
            self.params["propagate_stale"]
            and stamp not in self._images
            and (newest is None or newest < stamp)
        ):
            self._pending[stamp] = (header, unserved, self.get_clock().now().nanoseconds)
            while len(self._pending) > PENDING_KEPT:
                self._serve(*self._pending.popitem(last=False)[1][:2])
            return
        self._serve(header, unserved)

    def _serve_pending(self, up_to: int | None = None) -> None:
        """Serve the stale frames whose image arrived (or, older than it, never will) and, from
        the timer, those that waited ``PENDING_S``."""
        deadline = self.get_clock().now().nanoseconds - int(PENDING_S * 1e9)
        for stamp, (header, unserved, since) in list(self._pending.items()):
            if (up_to is not None and stamp <= up_to) or since <= deadline:
                del self._pending[stamp]
                self._serve(header, unserved)

    def _serve(self, header: Header, unserved: bool) -> None:
        # The frame's image and the mask it would get now, kept: the image may leave the
        # buffer while the answer waits, and a mask of a later frame may arrive meanwhile.
        image, latest = self._images.get(_stamp_ns(header)), self._latest
        self._hold(header, lambda: self._publish_stale(header, unserved, image, latest))

    def _publish_stale(
        self, header: Header, unserved: bool, image: Image | None, held_latest: tuple[Header, int, np.ndarray]
    ) -> None:
        """The newest mask of a frame at or before this one (the one it waited for, when it
        came; never a later frame's, which would be information from the future)."""
        source, seq, ids = self._latest
        if _stamp_ns(source) > _stamp_ns(header) >= _stamp_ns(held_latest[0]):
            source, seq, ids = held_latest
        age_ms = (_stamp_ns(header) - _stamp_ns(source)) / 1e6
        image = image or self._images.get(_stamp_ns(header))
        size = self._camera_size(image)
        if size is not None and ids.shape != (size[1], size[0]):
            ids = restore(ids, *size)  # the camera changed size since the mask's source frame
            self.stale_resized += 1
        elif self.params["propagate_stale"]:
            ids = self._propagate(source, seq, ids, header, image)
        latency_ms = (self.get_clock().now().nanoseconds - _stamp_ns(header)) / 1e6
        self.stale += 1
        self.stale_unserved += unserved
        self.stale_age.add(age_ms)
        self._publish(header, ids, image, seq, True, age_ms, latency_ms)

    def _camera_size(self, image: Image | None) -> tuple[int, int] | None:
        """(width, height) of the frame a stale mask is for: its own image, else the newest one."""
        if image is None and self._images:
            image = next(reversed(self._images.values()))
        return None if image is None else (image.width, image.height)

    def _propagate(
        self, source: Header, seq: int, ids: np.ndarray, header: Header, image: Image | None
    ) -> np.ndarray:
        """The mask moved from its source frame to ``header``'s frame; unmoved (reason counted)
        when a frame is missing or the sizes disagree."""
        src = self._images.get(_stamp_ns(source))
        if src is None or image is None:
            self.propagate_fallback["no source frame" if src is None else "no camera frame"] += 1
            return ids
        try:
            moved = self.propagator.propagate(
                (seq, _stamp_ns(source)), ids, _stamp_ns(source), image_to_rgb(src),
                _stamp_ns(header), image_to_rgb(image),
            )  # fmt: skip
        except (ValueError, PayloadError) as exc:
            self.propagate_fallback["size mismatch" if isinstance(exc, ValueError) else "bad image"] += 1
            return ids
        self.propagated += 1
        self.propagate_ms.add(self.propagator.last_ms)
        return moved

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
            "late_for_image_buffer": self.late_for_buffer,
            "late_masks": self.late_masks,
            "held_out_of_order": self.held_out_of_order,
            "lost_frames": self.lost_frames,
            "stale_resized": self.stale_resized,
            "propagated": self.propagated,
            "propagate_fallback": sum(self.propagate_fallback.values()),
            **{f"propagate_fallback_{k.replace(' ', '_')}": v for k, v in self.propagate_fallback.items()},
            **self.latency.summary(),
            **{f"stale_age_{k}": v for k, v in self.stale_age.summary().items()},
            **{f"propagate_{k}": v for k, v in self.propagate_ms.summary().items() if k != "count"},
        }
        level = WARN if self.rejected or self.fresh == 0 else OK
        message = f"p95 latency {values['p95_ms']:.0f} ms" if self.fresh else "no mask received yet"
        return [Status("masks", level, message, values)]


def main(args: list[str] | None = None) -> int:
    return run_node(MaskNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
