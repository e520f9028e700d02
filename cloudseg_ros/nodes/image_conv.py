"""sensor_msgs/Image <-> numpy, with the behaviour of ROS's cv_bridge.

On a ROS install cv_bridge exists, but the PyPI package of that name is ROS 1 code
that breaks with numpy 2, and a plain venv has none: this helper covers the
encodings this package meets (rgb8, bgr8, rgba8, bgra8, mono8) without copies on
the receive path. Row padding (step > width * channels) is handled.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from cloudseg_ros.errors import PayloadError

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}


def _ros_cv_bridge():
    """ROS's cv_bridge when a ROS install provides a working one, else None."""
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
        probe = np.zeros((2, 2, 3), np.uint8)
        if bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(probe, "rgb8"), "rgb8").shape != probe.shape:
            return None
        return bridge
    except Exception:  # absent in a plain venv; PyPI's cv-bridge is ROS 1 code and fails here
        return None


CV_BRIDGE = _ros_cv_bridge()


def image_to_array(msg: Image) -> np.ndarray:
    """The image's pixels as (H, W, C) or (H, W) uint8, in the message's own channel order."""
    channels = CHANNELS.get(msg.encoding)
    if channels is None:
        raise PayloadError(
            f"unsupported image encoding {msg.encoding!r}; expected one of {', '.join(CHANNELS)}"
        )
    h, w, step = msg.height, msg.width, msg.step
    if h == 0 or w == 0:
        raise PayloadError(f"empty image {w}x{h}")
    if step < w * channels or len(msg.data) < step * h:
        raise PayloadError(f"image {w}x{h} {msg.encoding}: step {step} and {len(msg.data)} bytes do not fit")
    flat = np.frombuffer(msg.data, dtype=np.uint8, count=step * h).reshape(h, step)
    rows = flat[:, : w * channels]
    return rows.reshape(h, w) if channels == 1 else rows.reshape(h, w, channels)


def image_to_rgb(msg: Image) -> np.ndarray:
    """The image as (H, W, 3) uint8 RGB, converting from BGR/RGBA/BGRA/mono as needed.

    PayloadError for an image that cannot be converted, with or without ROS's cv_bridge (the
    nodes refuse such a frame with that reason and go on)."""
    if CV_BRIDGE is not None:
        try:
            return np.asarray(CV_BRIDGE.imgmsg_to_cv2(msg, "rgb8"))
        except Exception as exc:  # CvBridgeError is a TypeError; a truncated buffer a ValueError
            raise PayloadError(
                f"image {msg.width}x{msg.height} {msg.encoding!r}: cv_bridge cannot convert it to rgb8: {exc}"
            ) from None
    arr = image_to_array(msg)
    enc = msg.encoding
    if enc in ("rgb8", "8UC3"):
        return arr
    if enc == "bgr8":
        return arr[..., ::-1]
    if enc == "rgba8":
        return arr[..., :3]
    if enc == "bgra8":
        return arr[..., 2::-1]
    return np.repeat(arr[..., None], 3, axis=2)  # mono8


def compressed_to_rgb(fmt: str, data: bytes) -> np.ndarray:
    """A sensor_msgs/CompressedImage's JPEG or PNG as (H, W, 3) uint8 RGB.

    ``fmt`` as compressed_image_transport writes it (``"bgr8; jpeg compressed bgr8"``, or
    the older ``"jpeg"``): the decoded image is BGR (cv::imdecode), grey images come out as
    three equal channels. Depth images (compressedDepth) are no camera frame: PayloadError."""
    import cv2

    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise PayloadError(f"compressed image format {fmt!r} is a depth image, not a camera frame")
    if not data:
        raise PayloadError(f"compressed image ({fmt!r}) without data")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PayloadError(f"compressed image ({fmt!r}, {len(data)} bytes) does not decode")
    return np.ascontiguousarray(bgr[..., ::-1])


def array_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """A sensor_msgs/Image holding ``array`` ((H, W) for mono8, (H, W, C) otherwise)."""
    channels = CHANNELS.get(encoding)
    if channels is None:
        raise ValueError(f"unsupported encoding {encoding!r}")
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}")
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ValueError(f"array of shape {array.shape} does not match encoding {encoding}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg
