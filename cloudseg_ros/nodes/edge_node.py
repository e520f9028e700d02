"""edge_node: decides which camera frames go to the cloud, and how.

Subscribes ``camera/image_raw``; publishes ``cloudseg/uplink`` (EncodedFrame), the
header of every camera frame NOT sent on ``cloudseg/skipped`` (the mask node answers
those with the latest mask, flagged stale) and, when the codec is JPEG,
``camera/image_lr/compressed`` (sensor_msgs/CompressedImage exactly as
compressed_image_transport writes it, so ``image_transport republish`` shows what the
robot sends). Listens to ``cloudseg/feedback`` for acknowledgements (frames in flight)
and IDR requests.

Every knob is a parameter with a range and a unit, live: a controller or ``ros2 param
set`` changes it between two frames (the executor is single-threaded, so a change never
lands in the middle of one); out-of-range or wrong-type values, and a codec and size the
encoder cannot run on this camera (libx265 under 16 px a side), are refused with a reason. The logic is :class:`cloudseg_ros.edge.pipeline.EdgePipeline`.

Bad input never stops the node: camera images of an unsupported encoding or malformed
size are refused and counted (diagnostics, one log line per burst); a camera that changes
size mid-stream starts a fresh stream (IDR) at the new size. The camera subscription keeps
the newest two frames, so a burst costs dropped frames, never memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from cloudseg_ros.bridge import keys
from cloudseg_ros.bridge.flow import InFlightWindow
from cloudseg_ros.codec import CHROMA_MODES, CODECS
from cloudseg_ros.codec.limits import MAX_DOWNSCALE
from cloudseg_ros.edge.camera_rate import CameraRate
from cloudseg_ros.edge.pipeline import EdgeKnobs, EdgePipeline, Sent
from cloudseg_ros.errors import CloudsegError, PayloadError
from cloudseg_ros.logutil import BurstLog
from cloudseg_ros.msg import EncodedFrame, Feedback
from cloudseg_ros.nodes.common import CheckedSubscription, run_node
from cloudseg_ros.nodes.diagnostics import OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.image_conv import image_to_rgb
from cloudseg_ros.nodes.params import Param, ParameterTable

D = EdgeKnobs()
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
PARAMS = (
    Param("downscale", D.downscale, "Camera size / sent size, per side (x1, x2, x3, x4 ...)",
          range=(1, MAX_DOWNSCALE)),
    Param("codec", D.codec, "Uplink codec; a change starts a new stream with an IDR", choices=CODECS),
    Param("bitrate_kbps", D.bitrate_kbps, "H.264/H.265 uplink rate while sending every frame the fps cap "
          "allows; also the VBV max rate (buffer = half of it) [kbit/s]", range=(10, 200_000)),
    Param("jpeg_quality", D.jpeg_quality, "JPEG quality [1-100]", range=(1, 100)),
    Param("gop", D.gop, "Encoded frames between periodic IDRs (H.264/H.265) [frames]", range=(1, 10_000)),
    Param("preset", D.preset, "x264/x265 speed preset", choices=PRESETS),
    Param("chroma", D.chroma, "Chroma sampling of the sent frame: yuv444 keeps the colour small objects need at "
          "the downscaled size, yuv420 for decoders without 4:4:4; a change starts a new stream", choices=CHROMA_MODES),
    Param("fps_cap", D.fps_cap, "Max frames sent per second; 0 = no cap [Hz]", range=(0.0, 240.0)),
    Param("key_threshold", D.key_threshold, "Deviation from the last KEY frame that makes a new KEY "
          "(full inference) [score 0-1]", range=(0.0, 1.0)),
    Param("useful_threshold", D.useful_threshold, "Staleness that makes a frame sent (USEFUL, or KEY by "
          "key_threshold): what motion does not explain since the last frame sent, summed over the frames "
          "skipped since; below it the frame is skipped and the robot propagates the latest mask "
          "[score 0-1]", range=(0.0, 1.0)),
    Param("max_key_interval", D.max_key_interval, "Frames examined by the selector (past the fps cap and the "
          "in-flight credit) after which a KEY is forced [frames]",
          range=(1, 10_000)),
    Param("max_in_flight", 2, "Frames sent and not yet acknowledged by the cloud; 0 = no limit [frames]",
          range=(0, 64)),
    Param("in_flight_timeout_s", 2.0, "An unacknowledged frame stops counting after this long; doubled by each "
          "expiry without an acknowledgement, up to 4x [s]",
          range=(0.05, 60.0)),
    Param("in_flight_slow_ms", 400.0, "A frame goes out behind one in flight only while the link is quick: no "
          "acknowledged frame took longer than this to cross (round trip less the cloud's processing) in the "
          "last 5 s, and the one in flight has not been out longer than this plus the cloud's last processing "
          "time; 0 = off [ms]",
          range=(0.0, 60_000.0)),
    Param("camera_fps", 10.0, "Nominal camera rate: the encoder's time base with the fps cap [Hz]",
          range=(0.1, 240.0)),
)  # fmt: skip
KNOBS = {f.name for f in fields(EdgeKnobs)}


#: compressed_image_transport's format string for a JPEG made from an rgb8 camera image
#: ("<source encoding>; jpeg compressed <encoding the JPEG decodes to>", cv::imdecode gives BGR).
COMPRESSED_FORMAT = "rgb8; jpeg compressed bgr8"


def encoded_frame(sent: Sent, header: Header, robot_id: str, camera_seq: int) -> EncodedFrame:
    """The uplink message of one sent frame (``send_stamp`` is left for the sender to set)."""
    out = EncodedFrame()
    out.header = header
    out.robot_id = robot_id
    out.seq = sent.seq
    out.camera_seq = camera_seq
    out.stream_id = sent.stream_id
    out.codec = sent.packet.codec
    out.key_frame = sent.packet.key_frame
    out.selection = int(sent.decision.selection)
    out.selector_score = float(sent.decision.score)
    out.width, out.height = sent.width, sent.height
    out.original_width, out.original_height = sent.original_width, sent.original_height
    out.encoded_size = len(sent.packet.data)
    out.original_size = sent.original_width * sent.original_height * 3
    out.encode_ms = float(sent.encode_ms)
    out.data = sent.packet.data
    return out


class EdgeNode(Node):
    def __init__(self) -> None:
        super().__init__("edge")
        self.params = ParameterTable(self, PARAMS, validate=self._check_knobs, on_change=self._on_change)
        p = self.params
        self.robot_id = keys.validate_robot_id(self.get_namespace())
        knobs = EdgeKnobs(**{k: p[k] for k in KNOBS})
        self.pipeline = EdgePipeline(
            knobs,
            InFlightWindow(p["max_in_flight"], p["in_flight_timeout_s"], p["in_flight_slow_ms"] / 1e3),
            fps=p["camera_fps"],
        )
        reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.uplink = self.create_publisher(EncodedFrame, keys.UPLINK, reliable)
        self.skipped = self.create_publisher(Header, keys.SKIPPED, QoSProfile(depth=20))
        # Reliable, as image_transport publishers are: it matches reliable subscribers (the
        # default of `image_transport republish`) and best-effort ones (RViz, Foxglove) alike.
        self.compressed = self.create_publisher(
            CompressedImage,
            "camera/image_lr/compressed",
            QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE),
        )
        self.create_subscription(Image, "camera/image_raw", self._on_image, QoSProfile(
            depth=2, reliability=qos_profile_sensor_data.reliability))  # fmt: skip
        self._bursts = BurstLog.for_logger(self.get_logger())
        self.feedback_sub = CheckedSubscription(
            self,
            Feedback,
            keys.FEEDBACK,
            self._on_feedback,
            QoSProfile(depth=10),
            on_error=lambda reason: self._bursts.failure(keys.FEEDBACK, reason),
        )
        self.feedback_count = 0
        self.rejected_images = 0
        self.last_error = ""
        self.camera_rate = CameraRate()
        self._rate_warned = False
        Diagnostics(self, self._diagnostics)
        self.get_logger().info(f"robot {self.robot_id!r}: {knobs}")

    def _check_knobs(self, values: Mapping[str, Any]) -> str | None:
        """A change the encoder cannot run on this camera is refused with its reason (it was
        accepted, and every frame after it failed to encode)."""
        if not hasattr(self, "pipeline"):  # start-up values: checked by the pipeline itself
            return None
        return self.pipeline.check(**{k: values[k] for k in KNOBS})

    def _on_change(self, changed: dict[str, Any]) -> None:
        knob_changes = {k: v for k, v in changed.items() if k in KNOBS}
        if knob_changes:
            self.pipeline.update(**knob_changes)
        if {"max_in_flight", "in_flight_timeout_s", "in_flight_slow_ms"} & changed.keys():
            self.pipeline.window.configure(
                self.params["max_in_flight"],
                self.params["in_flight_timeout_s"],
                self.params["in_flight_slow_ms"] / 1e3,
            )
        if "camera_fps" in changed:
            self.pipeline.set_camera_fps(changed["camera_fps"])

    def _on_feedback(self, msg: Feedback) -> None:
        self.feedback_count += 1
        self.pipeline.acknowledge(msg.last_seq, max(0.0, msg.server_ms) / 1e3)
        if msg.request_idr:
            self.pipeline.request_key(about_seq=msg.last_seq)
        if msg.error and msg.error != "superseded":
            self.last_error = msg.error

    def _on_image(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        try:
            rgb = image_to_rgb(msg)
            sent, _ = self.pipeline.process(rgb, stamp)
        except (PayloadError, ValueError, CloudsegError) as exc:
            self.rejected_images += 1
            self.last_error = f"camera image {msg.width}x{msg.height} {msg.encoding!r} refused: {exc}"
            self._bursts.failure("camera/image_raw", self.last_error)
            return
        self._bursts.success("camera/image_raw")
        self._check_camera_rate(stamp)
        if sent is not None:
            self._publish(msg, sent)
        else:
            self.skipped.publish(msg.header)

    def _check_camera_rate(self, stamp: float) -> None:
        """Warn when frames arrive faster than ``camera_fps``: the uplink then carries that
        ratio times ``bitrate_kbps``. Once, and again only after the rate matched for a while."""
        self.camera_rate.add(stamp)
        nominal = self.params["camera_fps"]
        measured = self.camera_rate.faster_than(nominal)
        if measured is None:
            if self.camera_rate.fps is not None and abs(self.camera_rate.fps / nominal - 1) < 0.1:
                self._rate_warned = False  # it matches (again): warn anew if it drifts off later
            return
        if not self._rate_warned:
            self._rate_warned = True
            self.get_logger().warn(
                f"camera frames arrive at {measured:.1f} Hz but camera_fps is {nominal:g}: the encoder gives "
                f"each frame bitrate_kbps / {nominal:g}, so the uplink carries ~{measured / nominal:.1f}x "
                f"bitrate_kbps; set camera_fps to the camera's rate (ros2 param set "
                f"{self.get_fully_qualified_name()} camera_fps {round(measured):d}.0)"
            )

    def _publish(self, image: Image, sent: Sent) -> None:
        out = encoded_frame(sent, image.header, self.robot_id, self.pipeline.stats.frames_in)
        out.send_stamp = self.get_clock().now().to_msg()
        self.uplink.publish(out)
        if sent.packet.codec == "jpeg" and self.compressed.get_subscription_count() > 0:
            c = CompressedImage(header=image.header, format=COMPRESSED_FORMAT)
            c.data = sent.packet.data
            self.compressed.publish(c)

    def _diagnostics(self) -> list[Status]:
        s = self.pipeline.stats
        values = {
            "frames_in": s.frames_in,
            "sent": s.sent,
            "selected_key": s.selected_key,
            "selected_useful": s.selected_useful,
            "key_frames": s.key_frames,
            "idr_requests": s.idr_requests,
            "send_fps_max": self.pipeline.send_fps,
            "bytes_sent": s.bytes_sent,
            "in_flight": self.pipeline.window.in_flight(),
            "held_slow_link": self.pipeline.window.held_slow,
            "last_crossing_ms": round(self.pipeline.window.last_crossing_s * 1e3, 1),
            "restarts": s.restarts,
            "rejected_images": self.rejected_images,
            "camera_fps_measured": round(self.camera_rate.fps or 0.0, 2),
            **{f"skipped_{k}": v for k, v in s.skipped.items()},
        }
        off_rate = self.camera_rate.faster_than(self.params["camera_fps"]) is not None
        level = WARN if self.rejected_images or off_rate or (s.frames_in > 20 and s.sent == 0) else OK
        return [
            Status(
                "uplink",
                level,
                self.last_error or f"{self.pipeline.knobs.codec} x{self.pipeline.knobs.downscale}",
                values,
            )
        ]

    def destroy_node(self) -> None:
        if hasattr(self, "pipeline"):  # also called on a node whose constructor failed
            self.pipeline.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(EdgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
