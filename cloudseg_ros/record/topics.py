"""Recording a live robot graph's topics into MCAP, from a node of its own.

A :class:`TopicRecorder` is an ordinary rclpy node in the robot's ROS domain (the same
kind the demo's recorder uses): raw subscriptions hand over each message's CDR bytes,
which go into the file untouched, stamped with the time the middleware received them. QoS
follows the publishers: best effort for the camera (a reliable subscription would not match
it), reliable for the rest; each channel says so in its ``offered_qos_profiles``.

Losses are counted, not silent: the subscriptions' callbacks only queue the bytes (a writer
thread compresses and writes, tens of milliseconds per chunk, which would otherwise hold up
the one executor thread while the middleware's short queues overflow); what the bounded
queue cannot take, what the middleware reports lost, and the gaps in the uplink's ``seq``
and in the camera's header stamps are counted per topic and reported at close.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import statistics
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudseg_ros.record.bag import McapRecorder, offered_qos_yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stream:
    """A topic under the robot namespace, its type, whether its publisher is best effort, and
    how a lost message shows (``gaps``): ``"seq"`` (EncodedFrame.seq, +1 per message),
    ``"stamps"`` (one header stamp per camera period), or ``""`` (not detectable)."""

    name: str
    type_name: str
    sensor: bool = False
    gaps: str = ""


#: What `cloudseg record` and `cloudseg demo --record` write by default: the camera (with its
#: ground truth, when the source has it), the link in both directions and the masks.
DEFAULT_STREAMS: tuple[Stream, ...] = (
    Stream("camera/image_raw", "sensor_msgs/msg/Image", sensor=True, gaps="stamps"),
    Stream("camera/camera_info", "sensor_msgs/msg/CameraInfo", sensor=True, gaps="stamps"),
    Stream("camera/labels", "sensor_msgs/msg/Image", sensor=True),  # not every frame has labels
    Stream("cloudseg/uplink", "cloudseg_ros/msg/EncodedFrame", gaps="seq"),
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


def header_stamp_ns(data: bytes) -> int:
    """The header stamp of a CDR message that starts with a std_msgs/Header (read in place:
    a camera image is not deserialised for 8 bytes)."""
    sec, nsec = struct.unpack_from("<iI" if data[1] & 1 else ">iI", data, 4)
    return sec * 1_000_000_000 + nsec


class SeqGaps:
    """Messages missing from a counter that goes +1 per message (EncodedFrame.seq); a counter
    that goes back (an edge restarted, counting from 1 again) starts over."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.missing = 0

    def add(self, seq: int) -> None:
        if self.last is not None and seq > self.last + 1:
            self.missing += seq - self.last - 1
        self.last = seq


class StampGaps:
    """Camera frames missing, estimated from the header stamps: a step of about k camera
    periods (the median of the recent steps) means k - 1 frames lost, once the camera is back
    at its period; steps that stay long are a slower camera (a lower fps, auto-exposure), not
    losses, and become the period. A stamp that goes back (a replay looping) starts over; a
    step over ``PAUSE`` periods is a pause, not a loss."""

    WARMUP = 8  # steps seen before the period is trusted
    PAUSE = 20

    def __init__(self) -> None:
        self.last: int | None = None
        self.steps: deque[int] = deque(maxlen=31)
        self.missing = 0
        self._pending = 0  # frames a long step would mean lost, if the next step is a normal one

    def add(self, stamp_ns: int) -> None:
        last, self.last = self.last, stamp_ns
        if last is None or stamp_ns == last:  # the first, or the same frame again
            return
        step = stamp_ns - last
        if step < 0:
            self.steps.clear()
            self._pending = 0
            return
        if len(self.steps) >= self.WARMUP:
            periods = round(step / statistics.median(self.steps))
            if periods >= 2:  # a gap, or the camera slowing down: the next step tells
                self._pending = periods - 1 if periods <= self.PAUSE else 0
            else:
                self.missing += self._pending
                self._pending = 0
        self.steps.append(step)


@dataclass
class TopicCount:
    """What happened to one topic's messages."""

    dropped: int = 0  # not written: the writer's queue was full
    lost: int = 0  # the middleware says it lost them (QoS message_lost events)
    missing: int = 0  # gaps in seq / header stamps: lost before they reached this process


class TopicRecorder:
    """Records ``streams`` of each robot namespace in ``robots`` (``""`` = no namespace).

    The ROS node is created before the file is opened: a recorder that cannot start (a bad
    domain, no middleware) leaves an existing file alone, even with ``overwrite``."""

    QUEUE_BYTES = 128 << 20  # received but not yet written; beyond it, messages are dropped

    def __init__(
        self,
        domain_id: int,
        robots: Sequence[str],
        path: str | Path,
        streams: Sequence[Stream] = DEFAULT_STREAMS,
        node_name: str = "cloudseg_recorder",
        overwrite: bool = False,
    ) -> None:
        from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode
        from cloudseg_ros.record.definitions import message_class

        wanted = []
        for robot in robots:
            ns = f"/{robot.strip('/')}" if robot.strip("/") else ""
            wanted += [(f"{ns}/{s.name}", s, message_class(s.type_name)) for s in streams]
        self.node = DomainNode(domain_id, node_name)
        try:
            self.file = McapRecorder(path, overwrite=overwrite)
        except BaseException:
            self.node.close()
            raise
        self.topics: list[str] = [topic for topic, _, _ in wanted]
        self.counts = {topic: TopicCount() for topic in self.topics}
        self._gaps: dict[str, SeqGaps | StampGaps] = {}
        self._queue: queue.SimpleQueue[tuple[str, str, bytes, int, int] | None] = queue.SimpleQueue()
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self.error: BaseException | None = None  # why the writer stopped writing, if it did
        self._writer = threading.Thread(target=self._drain, name="mcap-writer", daemon=True)
        self._writer.start()
        try:
            for topic, s, cls in wanted:
                qos = SENSOR if s.sensor else RELIABLE
                self.file.set_qos(topic, offered_qos_yaml(qos))
                if s.gaps:
                    self._gaps[topic] = SeqGaps() if s.gaps == "seq" else StampGaps()
                self._subscribe(cls, topic, s.type_name, qos)
        except BaseException:
            self.close()
            raise

    def _subscribe(self, cls: type, topic: str, type_name: str, qos: Any) -> None:
        from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError

        callback = functools.partial(self._received, topic, type_name)  # (data, info): info too
        lost = SubscriptionEventCallbacks(message_lost=functools.partial(self._lost, topic))
        try:
            self.node.node.create_subscription(cls, topic, callback, qos, raw=True, event_callbacks=lost)
        except UnsupportedEventTypeError:  # a middleware without the event: the gaps still count
            self.node.node.create_subscription(cls, topic, callback, qos, raw=True)

    def _received(self, topic: str, type_name: str, data: bytes, info: Any) -> None:
        """On the executor thread: stamp, count, queue; nothing slow."""
        received = info.get("received_timestamp", 0) or time.time_ns()
        sent = info.get("source_timestamp", 0) or received
        count = self.counts[topic]
        gaps = self._gaps.get(topic)
        if gaps is not None:
            # An odd message (too short, not CDR) is written as it came, not counted.
            with contextlib.suppress(struct.error, IndexError, RuntimeError):
                gaps.add(self._seq(data) if isinstance(gaps, SeqGaps) else header_stamp_ns(data))
            count.missing = gaps.missing
        with self._lock:
            if self._queued_bytes + len(data) > self.QUEUE_BYTES:
                count.dropped += 1
                return
            self._queued_bytes += len(data)
        self._queue.put((topic, type_name, data, received, sent))

    @staticmethod
    def _seq(data: bytes) -> int:
        from rclpy.serialization import deserialize_message

        from cloudseg_ros.msg import EncodedFrame

        return int(deserialize_message(data, EncodedFrame).seq)

    def _lost(self, topic: str, info: Any) -> None:
        self.counts[topic].lost += int(info.total_count_change)

    def _drain(self) -> None:
        """The writer thread: writes in arrival order until close() queues None."""
        while (item := self._queue.get()) is not None:
            topic, type_name, data, received, sent = item
            written = False
            try:
                if self.error is None:
                    self.file.write(topic, type_name, data, received, sent)
                    written = True
            except Exception as exc:  # a full disk: said at close; the file keeps what came before
                self.error = exc
                log.error("recording %s: writing failed: %s", self.file.path, exc)
            finally:
                with self._lock:
                    self._queued_bytes -= len(data)
                    self.counts[topic].dropped += not written

    @property
    def messages(self) -> int:
        return self.file.messages

    def count(self, topic: str) -> int:
        """Messages recorded on ``topic`` (fully qualified) so far."""
        return self.file.count(topic)

    def report(self) -> list[str]:
        """One line per topic: messages written, and what was lost where (after close())."""
        lines = []
        for topic in self.topics:
            c = self.counts[topic]
            gaps = "seq gaps" if isinstance(self._gaps.get(topic), SeqGaps) else "estimated from stamp gaps"
            losses = [f"{n} {what}" for n, what in ((c.dropped, "dropped (writer behind)"),
                      (c.lost, "lost (middleware)"), (c.missing, f"missing ({gaps})")) if n]  # fmt: skip
            lines.append(
                f"{topic}: {self.file.count(topic)} messages{'; ' + ', '.join(losses) if losses else ''}"
            )
        return lines

    @property
    def losses(self) -> int:
        """Messages known lost, all topics together."""
        return sum(c.dropped + c.lost + c.missing for c in self.counts.values())

    def close(self) -> None:
        """Stop listening, write what is queued, then finish the file (its index makes it
        seekable for readers)."""
        self.node.close()
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self.file.close()
