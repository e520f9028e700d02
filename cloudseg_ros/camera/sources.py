"""Where camera frames come from: the embedded scene, a video file, an image folder,
a V4L2 device, a recording (MCAP file or rosbag2 folder). No ROS here; the camera node
publishes whatever a source yields.

Every source yields RGB uint8 frames of ``width`` x ``height`` when asked (0 on one side
keeps the aspect ratio), else of each frame's own size (a folder of mixed sizes yields mixed
sizes), plus ground-truth labels when the source has them (the
synthetic scene; a Cityscapes-layout folder), so accuracy can be measured live.
A source that cannot be opened raises ConfigError naming the device or file.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cloudseg_ros.errors import ConfigError
from cloudseg_ros.imaging.resize import resize_labels_nearest

log = logging.getLogger(__name__)

KINDS = ("synthetic", "video", "folder", "v4l2", "mcap")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class Calibration:
    """A camera's calibration as sensor_msgs/CameraInfo carries it, for frames of
    ``width`` x ``height`` (row-major K 3x3, R 3x3, P 3x4; D as the model has it)."""

    width: int
    height: int
    k: tuple[float, ...]
    p: tuple[float, ...]
    d: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    distortion_model: str = "plumb_bob"

    @classmethod
    def pinhole(cls, f: float, cx: float, cy: float, width: int, height: int) -> Calibration:
        return cls(width, height, (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0),
                   (f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0))  # fmt: skip

    def scaled(self, width: int, height: int) -> Calibration:
        """For the frames resized to ``width`` x ``height``: the first two rows of K and P
        scale with the image (as image_proc's resize does); D and R do not change."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        k = [v * (sx if i < 3 else sy if i < 6 else 1.0) for i, v in enumerate(self.k)]
        p = [v * (sx if i < 4 else sy if i < 8 else 1.0) for i, v in enumerate(self.p)]
        return Calibration(width, height, tuple(k), tuple(p), self.d, self.r, self.distortion_model)


@dataclass
class CameraFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    labels: np.ndarray | None = None  # (H, W) uint8 train ids, when the source knows them
    index: int = 0
    stamp_ns: int | None = None  # capture stamp, when the source recorded one (replay)


class FrameSource:
    """Base class: ``frames()`` yields :class:`CameraFrame` until the source ends.

    ``live``: frames happen whether or not anyone reads them (a camera). A reader must then
    keep only the newest and stamp it when it was captured; a file or the scene can wait."""

    live = False

    def __init__(self, width: int = 0, height: int = 0) -> None:
        self.width, self.height = width, height
        self.calibration: Calibration | None = None  # where known, for the source's own frame size
        self.recorded_hz: float | None = None  # a recording's camera rate, where known
        self.stretched: tuple[int, int] | None = None  # the first frame size resized to another aspect

    def frames(self) -> Iterator[CameraFrame]:
        raise NotImplementedError

    def _fit(self, frame: CameraFrame) -> CameraFrame:
        """Resize to the requested size (area for pixels, nearest for labels); a size of 0 on
        one side keeps the frame's aspect ratio, 0 on both keeps the frame's own size."""
        h, w = frame.image.shape[:2]
        width, height = self.width, self.height
        if not width and not height:
            return frame
        if not width:
            width = max(1, round(w * height / h))
        elif not height:
            height = max(1, round(h * width / w))
        if (w, h) == (width, height):
            return frame
        if self.stretched is None and abs(w * height - h * width) > 0.01 * h * width:
            self.stretched = (w, h)  # the node says so once: a 4:3 camera into 1024x512 is distorted
        image = cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)
        labels = None if frame.labels is None else resize_labels_nearest(frame.labels, width, height)
        return CameraFrame(image, labels, frame.index, frame.stamp_ns)

    def close(self) -> None:
        pass


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """The frame as a player shows it: ``rotation`` is the video's display-matrix angle
    (counter-clockwise degrees, as PyAV reports it; a phone held upright records -90), undone
    by the opposite turn (ffmpeg's autorotate)."""
    turns = round(rotation / 90) % 4
    return image if turns == 0 else np.ascontiguousarray(np.rot90(image, turns))


def _default_split(root: Path) -> str:
    """``val`` when the layout has it (what a camera plays from Cityscapes), else its only split."""
    splits = sorted(p.name for p in (root / "leftImg8bit").iterdir() if p.is_dir())
    if "val" in splits:
        return "val"
    if len(splits) == 1:
        return splits[0]
    raise ConfigError(
        f"{root}: name the split to play (parameter 'split'); leftImg8bit has: {', '.join(splits) or 'none'}"
    )


def _natural_key(path: Path) -> list[int | str]:
    """frame2 before frame10: digit runs compare as numbers (unpadded frame dumps)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class SyntheticSource(FrameSource):
    """The embedded procedural driving scene, with ground-truth labels."""

    def __init__(
        self, width: int, height: int, seed: int = 0, variant: str = "default", start: int = 0
    ) -> None:
        super().__init__(width, height)
        from cloudseg_ros.scene import DrivingScene

        try:
            self.scene = DrivingScene(seed=seed, width=width, height=height, variant=variant)
        except ValueError as exc:
            raise ConfigError(f"synthetic camera: {exc}") from exc
        from cloudseg_ros.scene.camera import intrinsics

        self.calibration = Calibration.pinhole(
            *intrinsics(width, height), width, height
        )  # rendered at this size
        self.start = start

    def frames(self) -> Iterator[CameraFrame]:
        index = self.start
        while True:
            frame = self.scene.render(index)
            yield CameraFrame(frame.image, frame.labels, index)
            index += 1


class VideoSource(FrameSource):
    """A video file decoded with PyAV; loops when ``loop`` is set.

    A damaged packet is skipped (``damaged`` counts them) as a player would; a file that
    yields nothing but errors for ``MAX_DAMAGED_IN_A_ROW`` packets is refused, naming it."""

    MAX_DAMAGED_IN_A_ROW = 30

    def __init__(self, path: str, width: int = 0, height: int = 0, loop: bool = True) -> None:
        super().__init__(width, height)
        if not Path(path).is_file():
            raise ConfigError(f"video file not found: {path!r} (parameter 'uri')")
        import av

        try:
            with av.open(path) as container:
                has_video = bool(container.streams.video)
        except av.FFmpegError as exc:
            raise ConfigError(f"cannot open video file {path!r}: {exc}") from exc
        if not has_video:
            raise ConfigError(f"video file {path!r} has no video stream")
        self.path, self.loop = path, loop
        self.damaged = 0

    def frames(self) -> Iterator[CameraFrame]:
        index = 0
        while True:
            for image in self._decode():
                yield self._fit(CameraFrame(image, None, index))
                index += 1
            if index == 0 and self.damaged:
                raise ConfigError(f"video file {self.path!r} is damaged: no frame could be decoded")
            if not self.loop or index == 0:
                return

    def _decode(self) -> Iterator[np.ndarray]:
        import av

        in_a_row = 0
        with av.open(self.path) as container:
            for packet in container.demux(video=0):
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    self.damaged += 1
                    in_a_row += 1
                    if in_a_row >= self.MAX_DAMAGED_IN_A_ROW:
                        raise ConfigError(f"video file {self.path!r} is damaged: {in_a_row} packets in a row "
                                          f"could not be decoded ({exc})") from None  # fmt: skip
                    continue
                in_a_row = 0
                for frame in decoded:
                    yield upright(frame.to_ndarray(format="rgb24"), getattr(frame, "rotation", 0))


class FolderSource(FrameSource):
    """Images of a folder in name order; a Cityscapes-layout root also yields its labels."""

    def __init__(
        self, path: str, width: int = 0, height: int = 0, loop: bool = True, split: str = ""
    ) -> None:
        super().__init__(width, height)
        root = Path(path)
        if not root.is_dir():
            raise ConfigError(f"image folder not found: {path!r} (parameter 'uri')")
        self.loop, self.path = loop, path
        self.dataset = None
        self.unreadable = 0
        if (root / "leftImg8bit").is_dir():
            from cloudseg_ros.scene import CityscapesDataset

            # Labels where there are (scored), none where not: a camera plays unlabelled images too.
            self.dataset = CityscapesDataset(root, split=split or _default_split(root), require_labels=False)
            count = len(self.dataset)
        else:
            self.files = sorted(
                (p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
            )
            count = len(self.files)
        if count == 0:
            raise ConfigError(
                f"no images in {path!r} (looked for {', '.join(IMAGE_SUFFIXES)} or Cityscapes layout)"
            )
        self.count = count

    def _read(self, i: int) -> CameraFrame | None:
        if self.dataset is not None:
            item = self.dataset[i]
            return CameraFrame(item.image, item.labels, i)
        bgr = cv2.imread(str(self.files[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            return None
        return CameraFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None, i)

    def frames(self) -> Iterator[CameraFrame]:
        """Every image in order; one that does not read is skipped and counted (``unreadable``),
        as a video's damaged packet is; a folder where none reads is refused, naming it."""
        while True:
            read = 0
            for i in range(self.count):
                frame = self._read(i)
                if frame is None:
                    self.unreadable += 1
                    log.warning("cannot read image %s: skipped", self.files[i])
                    continue
                read += 1
                yield self._fit(frame)
            if read == 0:
                raise ConfigError(f"no image in {self.path!r} could be read")
            if not self.loop:
                return


class V4L2Source(FrameSource):
    """A V4L2 camera (``/dev/videoN`` or its index) through OpenCV.

    Live: each frame is stamped when ``read()`` returns it, and the driver is asked to buffer
    one frame only, so a camera faster than the node's ``fps`` is not published from a backlog
    of frames hundreds of milliseconds old under a fresh stamp."""

    live = True

    def __init__(self, device: str, width: int = 0, height: int = 0) -> None:
        super().__init__(width, height)
        target: str | int = int(device) if device.isdigit() else device
        if isinstance(target, str) and not Path(target).exists():
            raise ConfigError(f"V4L2 device not found: {device!r} (parameter 'uri')")
        self.capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not self.capture.isOpened():
            raise ConfigError(f"cannot open V4L2 device {device!r}")
        if width and height:
            self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a request: drivers that cannot keep their own
        self.device = device

    def frames(self) -> Iterator[CameraFrame]:
        index = 0
        while True:
            ok, bgr = self.capture.read()
            stamp_ns = time.time_ns()  # the ROS clock's default source, like the node's own stamps
            if not ok:
                raise ConfigError(f"V4L2 device {self.device!r} stopped delivering frames")
            yield self._fit(CameraFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None, index, stamp_ns))
            index += 1

    def close(self) -> None:
        self.capture.release()


class McapSource(FrameSource):
    """Replays the camera of a recording: an MCAP file (``cloudseg record``, ``cloudseg demo
    --record``, ``ros2 bag record -s mcap``) or a rosbag2 folder / ``.db3`` file.

    ``topic``: the sensor_msgs/Image or CompressedImage topic to replay; empty = the only
    ``.../image_raw`` Image topic of the file or, without one, its only CompressedImage topic
    (robots often record ``image_raw/compressed`` only: JPEG or PNG as
    compressed_image_transport writes them). Ground-truth labels recorded beside it (``.../labels`` with the same
    header stamps, as the synthetic and Cityscapes sources publish them) come along, so a
    replay can be scored. Each frame keeps its recorded capture stamp (``stamp_ns``); the
    camera node publishes it or the current time (parameter ``replay_stamps``). Frames are
    read one at a time: a recording of any length costs a few frames of memory.
    """

    IMAGE_TYPE = "sensor_msgs/msg/Image"
    COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
    PAIRING_WINDOW = 8  # images held back waiting for their labels

    def __init__(
        self, path: str, width: int = 0, height: int = 0, loop: bool = True, topic: str = ""
    ) -> None:
        super().__init__(width, height)
        from cloudseg_ros.record import BagReader

        if not Path(path).exists():
            raise ConfigError(f"recording not found: {path!r} (parameter 'uri')")
        try:
            self.reader = BagReader(path)
            topics = self.reader.topics()
        except ConfigError:
            raise
        except Exception as exc:  # a corrupt file: say which and why
            raise ConfigError(f"cannot read recording {path!r}: {exc}") from exc
        images = sorted(t for t, ty in topics.items() if ty == self.IMAGE_TYPE)
        compressed = sorted(t for t, ty in topics.items() if ty == self.COMPRESSED_TYPE)
        listed = ", ".join(images + compressed) or "none"
        if not images and not compressed:  # nothing to choose from: not a question of which topic
            others = f"; its topics: {', '.join(sorted(topics))}" if topics else ""
            raise ConfigError(
                f"recording {path!r} has no image messages (empty, or cut short before the first){others}"
            )
        if topic:
            if topics.get(topic) not in (self.IMAGE_TYPE, self.COMPRESSED_TYPE):
                raise ConfigError(f"{path!r} has no image topic {topic!r}; its image topics: {listed}")
        else:
            raw = [t for t in images if t.endswith("image_raw")] or compressed
            if len(raw) != 1:
                raise ConfigError(
                    f"{path!r}: name the camera topic to replay (parameter 'replay_topic'); "
                    f"image topics (sensor_msgs/Image, CompressedImage): {listed}"
                )
            topic = raw[0]
        self.topic = topic
        self.compressed = topics[topic] == self.COMPRESSED_TYPE
        camera = topic.removesuffix("/compressed") if self.compressed else topic
        labels = camera.rsplit("/", 1)[0] + "/labels"
        self.labels_topic = labels if topics.get(labels) == self.IMAGE_TYPE else None
        info = camera.rsplit("/", 1)[0] + "/camera_info"
        if topics.get(info) == "sensor_msgs/msg/CameraInfo":
            self.calibration = self._recorded_calibration(info)
        self.recorded_hz = self._recorded_rate()
        self.path, self.loop = path, loop
        self.unreadable = 0
        self.last_refusal = ""

    def _recorded_calibration(self, topic: str) -> Calibration | None:
        """The first CameraInfo recorded beside the images (K all zero: uncalibrated, None):
        a replay publishes it, scaled to the published size, instead of an all-zero K."""
        for message in self.reader.messages({topic}):
            info = self.reader.decode(message)
            if not (info.width and info.height and any(info.k)):
                return None
            return Calibration(info.width, info.height, tuple(info.k), tuple(info.p), tuple(info.d),
                               tuple(info.r), info.distortion_model)  # fmt: skip
        return None

    def _recorded_rate(self, frames: int = 30) -> float | None:
        """The camera rate of the recording, from the header stamps of its first images (read
        in place, not decoded): the node replays at its ``fps`` and says when they differ."""
        from cloudseg_ros.record.topics import header_stamp_ns

        stamps = []
        for message in self.reader.messages({self.topic}):
            stamps.append(header_stamp_ns(message.data))
            if len(stamps) > frames:
                break
        steps = sorted(b - a for a, b in itertools.pairwise(stamps) if b > a)
        return 1e9 / steps[len(steps) // 2] if steps else None

    def _one_pass(self) -> Iterator[tuple[int, object, np.ndarray | None]]:
        """(stamp, image message, labels or None) in recording order, images paired with the
        labels of the same stamp that arrive within a few messages."""
        from cloudseg_ros.nodes.image_conv import image_to_array

        wanted = {self.topic} | ({self.labels_topic} if self.labels_topic else set())
        images: OrderedDict[int, object] = OrderedDict()
        labels: OrderedDict[int, np.ndarray] = OrderedDict()
        for message in self.reader.messages(wanted):
            msg = self.reader.decode(message)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if message.topic == self.topic:
                images[stamp] = msg
            else:
                labels[stamp] = np.array(image_to_array(msg))
                while len(labels) > 4 * self.PAIRING_WINDOW:
                    labels.popitem(last=False)
            while images:
                first = next(iter(images))
                if self.labels_topic and first not in labels and len(images) <= self.PAIRING_WINDOW:
                    break
                yield first, images.pop(first), labels.pop(first, None)
        for stamp, msg in images.items():
            yield stamp, msg, labels.pop(stamp, None)

    def frames(self) -> Iterator[CameraFrame]:
        from cloudseg_ros.errors import PayloadError
        from cloudseg_ros.nodes.image_conv import compressed_to_rgb, image_to_rgb

        index = 0
        while True:
            for stamp, msg, labels in self._one_pass():
                try:
                    if self.compressed:
                        rgb = compressed_to_rgb(msg.format, bytes(msg.data))
                    else:
                        rgb = np.ascontiguousarray(image_to_rgb(msg))
                except PayloadError as exc:  # one odd frame: skipped and counted, as a folder's
                    self.unreadable += 1
                    log.warning("recording %s, %s: frame skipped: %s", self.path, self.topic, exc)
                    self.last_refusal = str(exc)
                    continue
                yield self._fit(CameraFrame(rgb, labels, index, stamp))
                index += 1
            if index == 0 and self.unreadable:
                raise ConfigError(
                    f"recording {self.path!r}, {self.topic}: no frame converts ({self.last_refusal})"
                )
            if not self.loop or index == 0:
                return


def open_source(
    kind: str,
    uri: str = "",
    width: int = 0,
    height: int = 0,
    seed: int = 0,
    variant: str = "default",
    loop: bool = True,
    start: int = 0,
    topic: str = "",
    split: str = "",
) -> FrameSource:
    """The source of ``kind`` (one of KINDS); ConfigError with the reason if it cannot open."""
    if kind == "synthetic":
        if width <= 0 or height <= 0:
            raise ConfigError("synthetic camera needs width and height > 0")
        return SyntheticSource(width, height, seed=seed, variant=variant, start=start)
    if kind in ("video", "folder", "v4l2", "mcap") and not uri:
        raise ConfigError(f"camera source {kind!r} needs 'uri' (a file, folder or device)")
    if kind == "mcap":
        return McapSource(uri, width, height, loop, topic)
    if kind == "video":
        return VideoSource(uri, width, height, loop)
    if kind == "folder":
        return FolderSource(uri, width, height, loop, split)
    if kind == "v4l2":
        return V4L2Source(uri, width, height)
    raise ConfigError(f"camera source {kind!r}: must be one of: {', '.join(KINDS)}")
