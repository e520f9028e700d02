"""camera_node: publishes ``camera/image_raw`` + ``camera/camera_info`` at a set rate.

Sources: the embedded synthetic driving scene (default; no hardware needed, like
image_tools' burger mode), a video file, an image folder (Cityscapes layout
included), a V4L2 device, or a recording (``mcap``: an MCAP file or a rosbag2
folder, e.g. from ``cloudseg record``). When the source knows the ground truth
(synthetic scene, Cityscapes folder, a recording that has it) it is published on
``camera/labels`` (mono8 train ids, same header as the image) so accuracy can be
measured downstream. A replay publishes at ``fps`` with the current time as stamp,
or with the recorded capture stamps (``replay_stamps``), which makes a replayed run
comparable frame by frame with the recorded one; it starts when ``camera/image_raw``
has its first subscriber, so that a short clip does not play to nobody while the
graph is still being discovered.
"""

from __future__ import annotations

import queue
import time
from collections import deque

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from cloudseg_ros.camera.reader import END, FrameReader
from cloudseg_ros.camera.sources import KINDS, FrameSource, open_source
from cloudseg_ros.nodes.common import run_node
from cloudseg_ros.nodes.diagnostics import ERROR, OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.image_conv import array_to_image
from cloudseg_ros.nodes.params import Param, ParameterTable

PARAMS = (
    Param("source", "synthetic", "Where frames come from", choices=KINDS, read_only=True),
    Param("uri", "", "Video file, image folder, V4L2 device (/dev/video0) or recording (.mcap, rosbag2 folder)",
          read_only=True),
    Param("width", 1024, "Published width; 0 = from height keeping the aspect ratio, or the source's own "
          "size when height is 0 too [px]", range=(0, 8192), read_only=True),
    Param("height", 512, "Published height; 0 = from width keeping the aspect ratio, or the source's own "
          "size when width is 0 too [px]", range=(0, 8192), read_only=True),
    Param("fps", 10.0, "Publishing rate [Hz]", range=(0.1, 240.0)),
    Param("seed", 0, "Synthetic scene: seed (layout, lighting, traffic)", range=(0, 2**31 - 1), read_only=True),
    Param("variant", "default", "Synthetic scene: motion", choices=("default", "static", "fast"), read_only=True),
    Param("start_index", 0, "Synthetic scene: first frame index", range=(0, 2**31 - 1), read_only=True),
    Param("loop", True, "Restart a video or folder at its end", read_only=True),
    Param("max_frames", 0, "Stop after this many frames; 0 = never", range=(0, 2**31 - 1)),
    Param("frame_id", "camera", "frame_id of the published headers"),
    Param("publish_labels", True, "Publish ground-truth labels when the source has them"),
    Param("replay_topic", "", "Recording: Image or CompressedImage topic to replay; empty = its only "
          ".../image_raw Image topic, else its only CompressedImage topic", read_only=True),
    Param("split", "", "Cityscapes-layout folder: the split to play (leftImg8bit/<split>); empty = val if "
          "there, else the only one", read_only=True),
    Param("replay_stamps", False, "Recording: publish the recorded capture stamps instead of the current time"),
)  # fmt: skip


RATE_WINDOW = 20  # published frames the achieved rate is measured over
SLOW_FRACTION = 0.9  # under this share of fps, the camera says it is slower than asked


class CameraNode(Node):
    def __init__(self) -> None:
        super().__init__("camera")
        self.params = ParameterTable(self, PARAMS, on_change=self._on_change)
        p = self.params
        self.source: FrameSource = open_source(
            p["source"],
            p["uri"],
            p["width"],
            p["height"],
            p["seed"],
            p["variant"],
            p["loop"],
            p["start_index"],
            p["replay_topic"],
            p["split"],
        )
        self.image_pub = self.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", qos_profile_sensor_data)
        self.labels_pub = self.create_publisher(Image, "camera/labels", qos_profile_sensor_data)
        self.published = 0
        self.late_ticks = 0
        self.finished: str | None = None  # why nothing more is published
        self._published_at: deque[float] = deque(maxlen=RATE_WINDOW)
        self._waiting_for_subscriber = p["source"] == "mcap"
        self._said_stretched = False
        self.reader = FrameReader(
            self.source, on_error=lambda reason: self.get_logger().error(f"camera source failed: {reason}")
        )
        self._timer = self.create_timer(1.0 / p["fps"], self._tick)
        hz = self.source.recorded_hz
        if hz and abs(hz / p["fps"] - 1.0) > 0.2:
            self.get_logger().warn(
                f"the recording's camera ran at {hz:.1f} Hz and replays at fps {p['fps']:g} "
                f"({max(hz / p['fps'], p['fps'] / hz):.1f}x {'slower' if hz > p['fps'] else 'faster'} "
                f"than recorded): set fps to {hz:.3g} to replay in real time"
            )
        Diagnostics(self, self._diagnostics)
        self.get_logger().info(f"camera: {p['source']} {p['uri'] or ''} at {p['fps']:g} Hz")

    def _on_change(self, changed: dict) -> None:
        if "fps" in changed:  # the same timer, a new period (a new timer each time: they add up)
            self._timer.timer_period_ns = int(1e9 / changed["fps"])
            self._timer.reset()

    def _tick(self) -> None:
        limit = self.params["max_frames"]
        if limit and self.published >= limit:
            self._finish(f"max_frames reached: {self.published} frames published")
            return
        if self._waiting_for_subscriber:
            if self.image_pub.get_subscription_count() == 0:
                return
            self._waiting_for_subscriber = False
            self.get_logger().info("replay starts: camera/image_raw has a subscriber")
        try:
            frame = self.reader.next_frame()
        except queue.Empty:
            self.late_ticks += 1
            return
        if frame is END:
            self._finish(f"source ended after {self.published} frames")
            return
        if self.source.stretched and not self._said_stretched:
            self._said_stretched = True
            (w, h), p = self.source.stretched, self.params
            self.get_logger().warn(
                f"{p['source']} frames of {w}x{h} are stretched to {p['width']}x{p['height']} (another aspect "
                "ratio): set width or height to 0 to keep the source's aspect, both to 0 for its own size "
                "(launch arguments width:= height:=)"
            )
        image = array_to_image(frame.image, "rgb8")
        if frame.stamp_ns is not None and (self.params["replay_stamps"] or self.source.live):
            image.header.stamp.sec, image.header.stamp.nanosec = divmod(frame.stamp_ns, 1_000_000_000)
        else:
            image.header.stamp = self.get_clock().now().to_msg()
        image.header.frame_id = self.params["frame_id"]
        self.image_pub.publish(image)
        self.info_pub.publish(self._camera_info(image))
        if frame.labels is not None and self.params["publish_labels"]:
            self.labels_pub.publish(array_to_image(frame.labels, "mono8", image.header))
        self.published += 1
        self._published_at.append(time.monotonic())

    def _finish(self, why: str) -> None:
        """Nothing more to publish: said once, in the log and in the diagnostics (a monitor
        must tell a finished camera from a running one)."""
        self._timer.cancel()
        if self.finished is None:
            self.finished = why
            self.get_logger().info(why)

    def _camera_info(self, image: Image) -> CameraInfo:
        info = CameraInfo(header=image.header, width=image.width, height=image.height)
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        cal = self.source.calibration
        if cal is not None:  # else all-zero K: "uncalibrated" in sensor_msgs/CameraInfo
            cal = cal.scaled(image.width, image.height)
            info.distortion_model, info.d, info.r = cal.distortion_model, list(cal.d), list(cal.r)
            info.k, info.p = list(cal.k), list(cal.p)
        return info

    def _diagnostics(self) -> list[Status]:
        values = {
            "published": self.published,
            "late_ticks": self.late_ticks,
            "dropped_live": self.reader.dropped_live,
            # frames of a file that did not decode (damaged video packets, unreadable images): skipped
            "skipped_unreadable": getattr(self.source, "unreadable", 0) + getattr(self.source, "damaged", 0),
        }
        if self.reader.error:
            return [Status("source", ERROR, self.reader.error, values)]
        if self.finished:
            return [Status("source", WARN, f"{self.params['source']}: {self.finished}", values)]
        rate = self._rate_hz()
        if rate is not None:
            values["rate_hz"] = round(rate, 2)
            if rate < SLOW_FRACTION * self.params["fps"]:
                return [Status("source", WARN, f"{self.params['source']}: {rate:.1f} Hz of the "
                               f"{self.params['fps']:g} asked (the source reads or renders slower)", values)]  # fmt: skip
        return [Status("source", OK, self.params["source"], values)]

    def _rate_hz(self) -> float | None:
        """Frames published per second over the last RATE_WINDOW frames (None until there are
        enough, or when the newest is old: a replay waiting for its subscriber is not slow)."""
        times = self._published_at
        if len(times) < RATE_WINDOW or time.monotonic() - times[-1] > 2.0 / self.params["fps"] + 1.0:
            return None
        return (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else None

    def destroy_node(self) -> None:
        if hasattr(self, "reader"):  # also called on a node whose constructor failed
            if self.reader.stop():
                self.source.close()
            else:  # still inside a read: closing would free the buffers it reads into
                self.get_logger().warn(
                    "camera read still blocked at shutdown: the source is left to the exit"
                )
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
