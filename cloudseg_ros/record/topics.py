"""Recording a live robot graph's topics into MCAP, from a node of its own.

A :class:`TopicRecorder` is an ordinary rclpy node in the robot's ROS domain (the same
kind the demo's recorder uses): raw subscriptions hand over each message's CDR bytes,
which go into the file untouched, stamped with the time they arrived. QoS follows the
publishers: best effort for the camera (a reliable subscription would not match it),
reliable for the rest.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudseg_ros.record.bag import McapRecorder


@dataclass(frozen=True)
class Stream:
    """A topic under the robot namespace, its type and whether its publisher is best effort."""

    name: str
    type_name: str
    sensor: bool = False


#: What `cloudseg record` and `cloudseg demo --record` write by default: the camera (with its
#: ground truth, when the source has it), the link in both directions and the masks.
DEFAULT_STREAMS: tuple[Stream, ...] = (
    Stream("camera/image_raw", "sensor_msgs/msg/Image", sensor=True),
    Stream("camera/camera_info", "sensor_msgs/msg/CameraInfo", sensor=True),
    Stream("camera/labels", "sensor_msgs/msg/Image", sensor=True),
    Stream("cloudseg/uplink", "cloudseg_ros/msg/EncodedFrame"),
    Stream("cloudseg/mask", "cloudseg_ros/msg/SegmentationMask"),
    Stream("cloudseg/feedback", "cloudseg_ros/msg/Feedback"),
    Stream("cloudseg/skipped", "std_msgs/msg/Header"),
    Stream("segmentation/mask", "sensor_msgs/msg/Image"),
    Stream("segmentation/info", "cloudseg_ros/msg/MaskInfo"),
)
#: Further streams one may ask for by name (large: full-size colour images).
OPTIONAL_STREAMS: tuple[Stream, ...] = (
    Stream("segmentation/color", "sensor_msgs/msg/Image"),
    Stream("segmentation/overlay", "sensor_msgs/msg/Image"),
    Stream("camera/image_lr/compressed", "sensor_msgs/msg/CompressedImage"),
)


def streams_named(names: Iterable[str]) -> list[Stream]:
    known = {s.name: s for s in (*DEFAULT_STREAMS, *OPTIONAL_STREAMS)}
    out = []
    for name in names:
        if name not in known:
            raise ValueError(f"unknown stream {name!r}; known: {', '.join(known)}")
        out.append(known[name])
    return out


class TopicRecorder:
    """Records ``streams`` of each robot namespace in ``robots`` (``""`` = no namespace)."""

    def __init__(
        self,
        domain_id: int,
        robots: Sequence[str],
        path: str | Path,
        streams: Sequence[Stream] = DEFAULT_STREAMS,
        node_name: str = "cloudseg_recorder",
    ) -> None:
        from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode
        from cloudseg_ros.record.definitions import message_class

        self.file = McapRecorder(path)
        self.node = DomainNode(domain_id, node_name)
        self.topics: list[str] = []
        for robot in robots:
            ns = f"/{robot.strip('/')}" if robot.strip("/") else ""
            for s in streams:
                topic = f"{ns}/{s.name}"
                self.node.listen(message_class(s.type_name), topic, SENSOR if s.sensor else RELIABLE, raw=True,
                                 callback=lambda data, t=topic, ty=s.type_name: self._write(t, ty, data))  # fmt: skip
                self.topics.append(topic)

    def _write(self, topic: str, type_name: str, data: bytes) -> None:
        self.file.write(topic, type_name, data, time.time_ns())

    @property
    def messages(self) -> int:
        return self.file.messages

    def count(self, topic: str) -> int:
        """Messages recorded on ``topic`` (fully qualified) so far."""
        return self.file.count(topic)

    def close(self) -> None:
        """Stop listening, then finish the file (its index makes it seekable for readers)."""
        self.node.close()
        self.file.close()
