"""Shared by the cloud service tests: the EncodedFrame fields the service reads (a plain
object: no ROS) and a sink that collects what the service emits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cloudseg_ros.cloud.service import FeedbackOut, MaskOut

HR = (256, 128)


@dataclass
class Frame:
    """The EncodedFrame fields the service reads (a plain object: no ROS in this module)."""

    seq: int
    data: bytes
    codec: str = "h264"
    key_frame: bool = False
    width: int = HR[0] // 4
    height: int = HR[1] // 4
    original_width: int = HR[0]
    original_height: int = HR[1]
    stream_id: int = 0
    selection: int = 0
    send_stamp: object = None
    header: object = None
    encoded_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.encoded_size = len(self.data)


class Sink:
    def __init__(self) -> None:
        self.masks: list[MaskOut] = []
        self.feedback: list[FeedbackOut] = []
        self.lock = threading.Lock()

    def mask(self, m: MaskOut) -> None:
        with self.lock:
            self.masks.append(m)

    def fb(self, f: FeedbackOut) -> None:
        with self.lock:
            self.feedback.append(f)

    def of(self, robot: str) -> tuple[list[MaskOut], list[FeedbackOut]]:
        with self.lock:
            return [m for m in self.masks if m.robot == robot], [f for f in self.feedback if f.robot == robot]
