"""Watches a running robot graph (and the cloud's side of it) and measures the run.

It is an ordinary ROS node in each domain: on the robot it listens to the camera's
ground truth, the uplink, the downlink and the mask node's outputs; on the cloud it
counts the masks the cloud produced and lists the cloud domain's topics, to prove
that no robot topic leaked into it. mIoU compares each FRESH mask (not a stale
republish) with the ground-truth labels of the very camera frame it came from.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from cloudseg_ros.bridge import keys
from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode
from cloudseg_ros.metrics import ConfusionMatrix
from cloudseg_ros.metrics.latency import LatencyWindow
from cloudseg_ros.msg import EncodedFrame, MaskInfo, SegmentationMask
from cloudseg_ros.scene.labels import colorize

PENDING = 120  # frames kept while waiting for the matching message on another topic


def _stamp(header: Any) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def _as_array(msg: Image) -> np.ndarray:
    channels = 1 if msg.encoding == "mono8" else 3
    data = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    return data.reshape(msg.height, msg.width) if channels == 1 else data.reshape(msg.height, msg.width, 3)


class _Bounded(OrderedDict):
    def put(self, key: int, value: Any) -> None:
        self[key] = value
        while len(self) > PENDING:
            self.popitem(last=False)


@dataclass
class RobotRecord:
    """Everything counted for one robot during the measurement window."""

    robot: str
    frames_captured: int = 0
    frames_sent: int = 0
    key_frames: int = 0
    uplink_bytes: int = 0
    masks_received: int = 0
    downlink_bytes: int = 0
    frames_segmented: int = 0
    stale_published: int = 0
    masks_evaluated: int = 0
    codec: str = ""
    lr_size: tuple[int, int] = (0, 0)
    hr_size: tuple[int, int] = (0, 0)
    sr_model: str = ""
    segmenter: str = ""
    engine: str = ""
    sr_fused: bool = False
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {
        "decode": [], "sr": [], "segment": [], "encode": [], "total": []})  # fmt: skip
    latency: LatencyWindow = field(default_factory=lambda: LatencyWindow(100_000))
    confusion: ConfusionMatrix = field(default_factory=ConfusionMatrix)
    first_mask_at: float | None = None


class Recorder:
    """Listens to robot graphs in ``robot_domain`` and the cloud in ``cloud_domain``."""

    def __init__(self, robot_domain: int, cloud_domain: int, robots: list[str], out_dir: Path,
                 snapshots: int = 4, video_fps: float = 10.0, video_scale: float = 0.5) -> None:  # fmt: skip
        self.robot_node = DomainNode(robot_domain, "cloudseg_demo_robot_recorder")
        self.cloud_node = DomainNode(cloud_domain, "cloudseg_demo_cloud_recorder")
        self.records = {r: RobotRecord(r) for r in robots}
        self.recording = False
        self.out_dir = out_dir
        self._lock = threading.Lock()
        self._labels = {r: _Bounded() for r in robots}
        self._masks = {r: _Bounded() for r in robots}
        self._infos = {r: _Bounded() for r in robots}
        self._want_snapshots = snapshots
        self.snapshots: list[Path] = []
        self._video: Any = None
        self._video_lock = threading.Lock()
        self._last_overlay: np.ndarray | None = None
        self._video_fps, self._video_scale = video_fps, video_scale
        self.video_path: Path | None = None
        for r in robots:
            ns = f"/{r}"
            rn = self.robot_node
            rn.listen(
                CameraInfo,
                f"{ns}/camera/camera_info",
                SENSOR,
                callback=lambda m, r=r: self._on_info_cam(r, m),
            )
            rn.listen(Image, f"{ns}/camera/labels", SENSOR, callback=lambda m, r=r: self._on_labels(r, m))
            rn.listen(EncodedFrame, f"{ns}/{keys.UPLINK}", RELIABLE, raw=True,
                      callback=lambda d, r=r: self._on_uplink(r, d))  # fmt: skip
            rn.listen(SegmentationMask, f"{ns}/{keys.MASK}", RELIABLE, raw=True,
                      callback=lambda d, r=r: self._on_downlink(r, d))  # fmt: skip
            rn.listen(Image, f"{ns}/segmentation/mask", RELIABLE, callback=lambda m, r=r: self._on_mask(r, m))
            rn.listen(
                MaskInfo,
                f"{ns}/segmentation/info",
                RELIABLE,
                callback=lambda m, r=r: self._on_mask_info(r, m),
            )
            if r == robots[0]:
                rn.listen(Image, f"{ns}/segmentation/overlay", RELIABLE, callback=self._on_overlay)
            self.cloud_node.listen(SegmentationMask, f"{ns}/{keys.MASK}", RELIABLE, raw=True,
                                   callback=lambda d, r=r: self._on_cloud_mask(r))  # fmt: skip
        self._snapshots_due: list[float] = []  # monotonic times: the next scored mask after each is kept
        self._overlay_count = 0

    # ------------------------------------------------------------------ control
    def start(self, duration_s: float) -> None:
        """Open the measurement window of ``duration_s`` (counters start at zero). Snapshots are
        spread over it in time: by mask count they bunched at the start, or came one in all,
        when fewer masks came back than camera frames (the selector skips about half)."""
        t0, n = time.monotonic(), self._want_snapshots
        self._snapshots_due = [t0 + duration_s * (k + 1) / (n + 1) for k in range(n)]
        with self._lock:
            for r in self.records:
                first = self.records[r].first_mask_at
                self.records[r] = RobotRecord(r, first_mask_at=first)
            self.recording = True

    def stop(self) -> None:
        with self._lock:
            self.recording = False
        with self._video_lock:
            if self._video is not None:
                container, stream = self._video
                for packet in stream.encode():
                    container.mux(packet)
                container.close()
                self._video = None

    def close(self) -> None:
        self.stop()
        self.robot_node.close()
        self.cloud_node.close()

    def any_mask(self) -> bool:
        return any(r.first_mask_at is not None for r in self.records.values())

    def cloud_topics(self) -> set[str]:
        return self.cloud_node.topics()

    # ------------------------------------------------------------------ callbacks
    def _on_info_cam(self, robot: str, msg: CameraInfo) -> None:
        if self.recording:
            rec = self.records[robot]
            rec.frames_captured += 1
            rec.hr_size = (msg.width, msg.height)

    def _on_labels(self, robot: str, msg: Image) -> None:
        with self._lock:
            self._labels[robot].put(_stamp(msg.header), np.array(_as_array(msg)))
        self._try_evaluate(robot, _stamp(msg.header))

    def _on_uplink(self, robot: str, data: bytes) -> None:
        if not self.recording:
            return
        msg = deserialize_message(data, EncodedFrame)
        rec = self.records[robot]
        rec.frames_sent += 1
        rec.key_frames += int(msg.key_frame)
        rec.uplink_bytes += msg.encoded_size
        rec.codec = msg.codec
        rec.lr_size = (msg.width, msg.height)

    def _on_downlink(self, robot: str, data: bytes) -> None:
        rec = self.records[robot]
        if rec.first_mask_at is None:
            rec.first_mask_at = time.monotonic()
        if not self.recording:
            return
        msg = deserialize_message(data, SegmentationMask)
        rec.masks_received += 1
        rec.downlink_bytes += len(msg.data)
        rec.sr_model, rec.segmenter, rec.engine = msg.sr_model, msg.segmenter, msg.engine
        rec.sr_fused = bool(msg.sr_fused)
        for stage, value in (("decode", msg.decode_ms), ("sr", msg.sr_ms), ("segment", msg.segment_ms),
                             ("encode", msg.encode_ms), ("total", msg.total_ms)):  # fmt: skip
            rec.stage_ms[stage].append(float(value))

    def _on_cloud_mask(self, robot: str) -> None:
        if self.recording:
            self.records[robot].frames_segmented += 1

    def _on_mask(self, robot: str, msg: Image) -> None:
        with self._lock:
            self._masks[robot].put(_stamp(msg.header), np.array(_as_array(msg)))
        self._try_evaluate(robot, _stamp(msg.header))

    def _on_mask_info(self, robot: str, msg: MaskInfo) -> None:
        if not self.recording:
            return
        rec = self.records[robot]
        if msg.stale:
            rec.stale_published += 1
        else:
            rec.latency.add(msg.latency_ms)
            with self._lock:
                self._infos[robot].put(_stamp(msg.header), msg)
            self._try_evaluate(robot, _stamp(msg.header))

    def _try_evaluate(self, robot: str, stamp: int) -> None:
        """Score a fresh mask once its ids, its info and its ground truth have all arrived."""
        with self._lock:
            if not (
                stamp in self._infos[robot] and stamp in self._masks[robot] and stamp in self._labels[robot]
            ):
                return
            self._infos[robot].pop(stamp)
            ids, labels = self._masks[robot].pop(stamp), self._labels[robot][stamp]
        if ids.shape != labels.shape:
            return
        rec = self.records[robot]
        rec.confusion.update(labels, ids)
        rec.masks_evaluated += 1
        self._scored(robot, stamp, labels, ids)
        first_robot = robot == next(iter(self.records))
        if first_robot and self._snapshots_due and time.monotonic() >= self._snapshots_due[0]:
            self._snapshots_due.pop(0)
            self._snapshot(ids, labels)

    def _scored(self, robot: str, stamp: int, labels: np.ndarray, ids: np.ndarray) -> None:
        """A fresh mask was scored (subclasses keep finer accounts)."""

    # ------------------------------------------------------------------ pictures
    def _snapshot(self, ids: np.ndarray, labels: np.ndarray) -> None:
        import cv2

        overlay = self._last_overlay
        if overlay is None or overlay.shape[:2] != ids.shape:
            overlay = colorize(ids)
        panel = np.concatenate([overlay, colorize(ids), colorize(labels)], axis=1)
        path = self.out_dir / f"snapshot_{len(self.snapshots) + 1}.png"
        cv2.imwrite(str(path), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
        self.snapshots.append(path)

    def _on_overlay(self, msg: Image) -> None:
        rgb = _as_array(msg)
        self._last_overlay = np.array(rgb)
        with self._video_lock:
            if self.recording:
                self._write_video(rgb, msg.width, msg.height)

    def _write_video(self, rgb: np.ndarray, width: int, height: int) -> None:
        import cv2

        w = max(2, int(width * self._video_scale) // 2 * 2)
        h = max(2, int(height * self._video_scale) // 2 * 2)
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        if self._video is None:
            import av

            self.video_path = self.out_dir / "overlay.mp4"
            container = av.open(str(self.video_path), "w")
            stream = container.add_stream("libx264", rate=round(self._video_fps))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "26"}
            self._video = (container, stream)
        container, stream = self._video
        if (w, h) != (stream.width, stream.height):
            return
        import av

        for packet in stream.encode(av.VideoFrame.from_ndarray(small, format="rgb24")):
            container.mux(packet)
