"""sensor_msgs/Image <-> numpy, with the behaviour of ROS's cv_bridge.

On a ROS install cv_bridge exists, but the PyPI package of that name is ROS 1 code
that breaks with numpy 2, and a plain venv has none: this helper covers the
encodings this package meets (rgb8, bgr8, rgba8, bgra8, mono8) without copies on
the receive path, and converts what camera drivers also publish (YUV 4:2:2, 8-bit Bayer)
to RGB. Row padding (step > width * channels) is handled.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from cloudseg_ros.errors import PayloadError

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1, "8UC3": 3}
# Camera encodings converted to RGB only (cv_bridge's conversions; OpenCV names a Bayer
# pattern by another 2x2 block than ROS does, hence rggb -> BG): what robot camera drivers
# publish when the robot's own driver feeds the edge (robot.launch.py camera:=false).
PACKED = {  # encoding -> (bytes per pixel, OpenCV conversion name)
    "yuv422": (2, "COLOR_YUV2RGB_UYVY"),
    "uyvy": (2, "COLOR_YUV2RGB_UYVY"),
    "yuv422_yuy2": (2, "COLOR_YUV2RGB_YUYV"),
    "yuyv": (2, "COLOR_YUV2RGB_YUYV"),
    "bayer_rggb8": (1, "COLOR_BayerBG2RGB"),
    "bayer_bggr8": (1, "COLOR_BayerRG2RGB"),
    "bayer_gbrg8": (1, "COLOR_BayerGR2RGB"),
    "bayer_grbg8": (1, "COLOR_BayerGB2RGB"),
}


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


def image_to_array(msg: Image, channels: int | None = None) -> np.ndarray:
    """The image's pixels as (H, W, C) or (H, W) uint8, in the message's own channel order
    (``channels``: bytes per pixel of an encoding outside CHANNELS)."""
    channels = channels or CHANNELS.get(msg.encoding)
    if channels is None:
        raise PayloadError(
            f"unsupported image encoding {msg.encoding!r}; expected one of {', '.join([*CHANNELS, *PACKED])}"
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
    enc = msg.encoding
    if enc in PACKED:
        import cv2

        size, conversion = PACKED[enc]
        if size == 2 and msg.width % 2:
            raise PayloadError(f"image {msg.width}x{msg.height} {enc}: odd width (pixels come in pairs)")
        return cv2.cvtColor(np.ascontiguousarray(image_to_array(msg, size)), getattr(cv2, conversion))
    arr = image_to_array(msg)
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
