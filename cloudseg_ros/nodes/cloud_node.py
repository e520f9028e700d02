"""cloud_node: segments every robot's uplink frames and answers with masks and feedback.

Robots are discovered from the ROS graph: any ``/<robot>/cloudseg/uplink`` topic of
type cloudseg_ros/msg/EncodedFrame (as the cloud bridge, or zenoh-bridge-ros2dds,
creates them) is served, and ``/<robot>/cloudseg/{mask,feedback}`` answer it. The
work itself is :class:`cloudseg_ros.cloud.service.CloudService`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from cloudseg_ros.bridge import keys
from cloudseg_ros.cloud.service import DEFAULT_MAX_BATCH, CloudService, FeedbackOut, MaskOut
from cloudseg_ros.codec import PayloadLimits
from cloudseg_ros.engines import FUSE_MODES
from cloudseg_ros.mask.codec import ENCODING
from cloudseg_ros.msg import EncodedFrame, Feedback, SegmentationMask
from cloudseg_ros.nodes.common import CheckedSubscription, run_node
from cloudseg_ros.nodes.diagnostics import ERROR, OK, WARN, Diagnostics, Status
from cloudseg_ros.nodes.params import Param, ParameterTable
from cloudseg_ros.scene.labels import NUM_CLASSES

RECENT_S = 30.0  # diagnostics: a counter that grew within this long sets the level

UPLINK_TYPE = "cloudseg_ros/msg/EncodedFrame"
UPLINK_TOPIC = re.compile(rf"^/(.+)/{keys.UPLINK}$")

PARAMS = (
    Param("sr_model", "cloudseg", "Upscaler from the received frame to camera resolution",
          choices=("bilinear", "bicubic", "espcn", "carn_m", "cloudseg"), read_only=True),
    Param("segmenter", "icnet", "Segmentation model name (shipped weights) ", choices=("icnet",), read_only=True),
    Param("engine", "auto", "Inference engine; auto = TensorRT, then ONNX Runtime CUDA, torch CUDA, "
          "ONNX Runtime CPU, torch CPU", choices=("auto", "tensorrt", "onnxruntime", "torch"), read_only=True),
    Param("fp16", True, "Half precision on GPU engines (TensorRT, torch CUDA); CPU engines run FP32", read_only=True),
    Param("fuse_sr", "auto", "x4 frames of a learned sr_model: SR and segmenter as one graph, the HR "
          "frame never leaves the engine (auto: on GPU engines, where it pays; see README)",
          choices=FUSE_MODES, read_only=True),
    Param("weights_dir", "", "Folder with model files; empty = the weights shipped in the package",
          read_only=True),
    Param("num_threads", 2, "CPU threads per inference engine", range=(1, 64), read_only=True),
    Param("queue_depth", 2, "Decoded frames waiting per robot; older ones are superseded", range=(1, 16)),
    Param("max_batch", DEFAULT_MAX_BATCH, "Waiting frames of different robots segmented in one "
          "inference call (1 = one frame per call; see bench/batch.py)", range=(1, 16)),
    Param("discovery_period_s", 1.0, "How often to look for new robots' uplink topics [s]", range=(0.1, 60.0)),
    Param("robot_timeout_s", 30.0, "Forget a robot (decoder, features) silent for this long [s]", range=(1.0, 3600.0)),
    Param("serve", ["**"], "Robots served, as zenoh key expressions over robot ids (** = all)", read_only=True),
    Param("max_width", 4096, "Largest frame or camera width accepted [px]", range=(16, 16384)),
    Param("max_height", 4096, "Largest frame or camera height accepted [px]", range=(16, 16384)),
    Param("max_bytes", 8_000_000, "Largest encoded frame accepted [bytes]", range=(1024, 256_000_000)),
)  # fmt: skip


class CloudNode(Node):
    def __init__(self) -> None:
        super().__init__("cloud")
        self.params = ParameterTable(
            self, PARAMS, validate=lambda v: keys.check_selectors(v["serve"]), on_change=self._on_change
        )
        p = self.params
        from cloudseg_ros.segmenter import CloudPipeline

        self.pipeline = CloudPipeline(
            sr_model=p["sr_model"],
            segmenter=p["segmenter"],
            engine=p["engine"],
            num_threads=p["num_threads"],
            weights_dir=p["weights_dir"] or None,
            fp16=p["fp16"],
            fuse=p["fuse_sr"],
        )
        self.service = CloudService(
            self.pipeline,
            emit_mask=self._publish_mask,
            emit_feedback=self._publish_feedback,
            limits=self._limits(),
            queue_depth=p["queue_depth"],
            logger=self.get_logger(),
            max_batch=p["max_batch"],
        ).start()
        # Deep enough that the DDS history never overwrites an uplink frame before it is taken:
        # every frame must reach its decoder (the newest-wins queue comes after decoding).
        self._qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._robots: dict[str, dict[str, Any]] = {}  # robot -> {"sub", "mask", "feedback"}
        # diagnostics: (robot or "", counter) -> (value, when it changed)
        self._counters: dict[tuple[str, str], tuple[int, float]] = {}
        self._discover_timer = self.create_timer(p["discovery_period_s"], self._discover)
        self.create_timer(5.0, self._forget_silent)
        Diagnostics(self, self._diagnostics)
        self.get_logger().info(
            f"serving with sr_model={p['sr_model']} segmenter={p['segmenter']} engine={self._engine_name()}"
        )
        self._warn_outside_profile()
        self._discover()

    def _warn_outside_profile(self) -> None:
        """TensorRT serves only the frame sizes its engine was built for (an optimisation
        profile); bigger cameras the limits let in would fail frame by frame."""
        from cloudseg_ros.engines.export import HR_MAX

        p, (max_h, max_w) = self.params, HR_MAX
        if self._engine_name().startswith("tensorrt") and (p["max_width"] > max_w or p["max_height"] > max_h):
            self.get_logger().warn(
                f"TensorRT serves camera sizes up to {max_w}x{max_h} (after padding to "
                f"{self.pipeline.multiple}); max_width/max_height let {p['max_width']}x{p['max_height']} in, and "
                "such frames would fail: set max_width/max_height to the profile, or engine onnxruntime or torch"
            )

    def _limits(self) -> PayloadLimits:
        p = self.params
        return PayloadLimits.camera(p["max_width"], p["max_height"], p["max_bytes"])

    def _engine_name(self) -> str:
        return str(self.pipeline.engine)

    def _on_change(self, changed: dict[str, Any]) -> None:
        if {"max_width", "max_height", "max_bytes"} & changed.keys():
            self.service.limits = self._limits()
        if "queue_depth" in changed:
            self.service.queue_depth = changed["queue_depth"]
            for state in self.service.robots.values():
                state.queue.resize(changed["queue_depth"])
        if "max_batch" in changed:
            self.service.max_batch = changed["max_batch"]  # from the worker's next batch
        if "discovery_period_s" in changed:  # the same timer, a new period
            self._discover_timer.timer_period_ns = int(changed["discovery_period_s"] * 1e9)
            self._discover_timer.reset()

    # ------------------------------------------------------------------ robots
    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            match = UPLINK_TOPIC.match(topic)
            if not match or UPLINK_TYPE not in types or match.group(1) in self._robots:
                continue
            robot = match.group(1)
            if not keys.serves(self.params["serve"], robot):
                continue
            self._robots[robot] = {
                "sub": CheckedSubscription(
                    self,
                    EncodedFrame,
                    topic,
                    lambda msg, r=robot: self.service.receive(r, msg),
                    self._qos,
                    on_error=lambda reason, r=robot: self.service.reject(r, reason),
                ),
                "mask": self.create_publisher(SegmentationMask, f"/{robot}/{keys.MASK}", self._qos),
                "feedback": self.create_publisher(Feedback, f"/{robot}/{keys.FEEDBACK}", self._qos),
                "since": time.monotonic(),
            }
            self.get_logger().info(f"found robot {robot!r} on {topic}")

    def _forget_silent(self) -> None:
        timeout = self.params["robot_timeout_s"]
        for robot in self.service.forget_silent(timeout):
            self._drop(robot)
            self.get_logger().info(f"robot {robot!r} silent: forgotten")
        # A topic that never brought a frame (its first one came before this node subscribed, a
        # peer trying ids, a robot forgotten while its bridge still listed it): its entities go
        # too, else every such id kept a subscription and two publishers for good.
        now = time.monotonic()
        for robot in [
            r for r, e in self._robots.items() if r not in self.service.robots and now - e["since"] > timeout
        ]:
            self._drop(robot)
            self.get_logger().info(f"robot {robot!r} sent nothing for {timeout:g} s: forgotten")

    def _drop(self, robot: str) -> None:
        entities = self._robots.pop(robot, None)
        if entities:
            self.destroy_subscription(entities["sub"].subscription)
            self.destroy_publisher(entities["mask"])
            self.destroy_publisher(entities["feedback"])

    # ------------------------------------------------------------------ output
    def _publish_mask(self, out: MaskOut) -> None:
        if out.robot not in self._robots or not self.context.ok():  # forgotten, or shutting down
            return
        msg = SegmentationMask()
        msg.header = out.frame.header
        msg.robot_id = out.robot
        msg.seq = out.frame.seq
        msg.width, msg.height = out.width, out.height
        msg.encoding = ENCODING
        msg.num_classes = NUM_CLASSES
        msg.sr_model, msg.segmenter, msg.engine = out.sr_model, out.segmenter, out.engine
        msg.reused_key_features, msg.sr_fused = out.reused_key_features, out.sr_fused
        msg.decode_ms, msg.sr_ms, msg.segment_ms = out.decode_ms, out.sr_ms, out.segment_ms
        msg.encode_ms, msg.total_ms = out.encode_ms, out.total_ms
        msg.data = out.data
        self._send(out.robot, "mask", msg)

    def _publish_feedback(self, out: FeedbackOut) -> None:
        if out.robot not in self._robots or not self.context.ok():
            return
        msg = Feedback()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(out.receive_ns, 1_000_000_000)
        msg.robot_id = out.robot
        msg.last_seq = out.seq
        msg.send_stamp = out.send_stamp
        msg.frame_size = out.frame_size
        msg.frames_received = out.frames_received
        msg.frames_lost = out.frames_lost
        msg.decode_errors = out.decode_errors
        msg.request_idr = out.request_idr
        msg.error = out.error
        msg.server_ms = float(out.server_ms)
        self._send(out.robot, "feedback", msg)

    def _send(self, robot: str, kind: str, msg: Any) -> None:
        """Publish from the inference thread. The robot may be forgotten (its publishers
        destroyed) or the node shut down between the lookup and the publish: then the answer
        has nowhere to go, and is no inference error (it was counted as one, and the engine
        showed ERROR for good)."""
        publisher = self._robots.get(robot, {}).get(kind)
        if publisher is None:
            return
        try:
            publisher.publish(msg)
        except Exception:
            if self.context.ok() and self._robots.get(robot, {}).get(kind) is publisher:
                raise  # a live publisher failed: a real error

    # ------------------------------------------------------------------ diagnostics
    def _diagnostics(self) -> list[Status]:
        """Levels from what happened lately (RECENT_S), not from cumulative counters: one lost
        frame or one failed inference kept a robot at WARN, the engine at ERROR, for good."""
        stats = self.service.stats()
        errors = self.service.inference_errors
        values = {"inference_errors": errors, **self.service.batch_stats()}
        if not self.service.serving:
            engine = Status("engine", ERROR, f"{self._engine_name()}: the inference worker stopped", values)
        elif self._recent(("", "inference_errors"), errors):
            engine = Status("engine", ERROR, f"{self._engine_name()}: inference failed lately", values)
        else:
            engine = Status("engine", OK, self._engine_name(), values)
        out = [engine]
        for robot, s in stats.items():
            troubled = self._recent((robot, "errors"), s["decode_errors"] + s["frames_lost"])
            waiting = self._recent((robot, "waiting"), s["waiting_for_key"])
            if s["id_conflict"]:
                level, message = ERROR, "frame numbers keep going back: two edges with this robot id?"
            elif troubled or waiting:
                level = WARN
                message = (s["last_error"] or "frames lost") if troubled else "waiting for a key frame"
            else:
                level, message = OK, "serving"
            out.append(Status(f"robot {robot}", level, message, s))
        self._counters = {
            k: v for k, v in self._counters.items() if not k[0] or k[0] in stats
        }  # forgotten robots
        return out

    def _recent(self, key: tuple[str, str], value: int) -> bool:
        """Whether the counter ``key`` changed within the last RECENT_S seconds."""
        now = time.monotonic()
        last, changed = self._counters.get(key, (0, float("-inf")))
        if value != last:
            self._counters[key] = (value, now)
            changed = now
        return now - changed < RECENT_S

    def destroy_node(self) -> None:
        if hasattr(self, "service"):  # also called on a node whose constructor failed
            self.service.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CloudNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
