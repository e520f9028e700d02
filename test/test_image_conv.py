"""sensor_msgs/Image -> RGB: every refusal is a PayloadError (the nodes refuse the frame with
its reason and go on), with this package's converter and with ROS's cv_bridge.

cv_bridge is not installable here (a ROS install provides it); its failure is played by a
stand-in that raises what cv_bridge raises (CvBridgeError is a TypeError), to check only
that the node-facing error is the same."""

from __future__ import annotations

import numpy as np
import pytest

from cloudseg_ros.errors import PayloadError
from cloudseg_ros.nodes import image_conv
from cloudseg_ros.nodes.image_conv import array_to_image, image_to_rgb


def test_encodings_convert_to_rgb() -> None:
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert np.array_equal(image_to_rgb(array_to_image(rgb, "rgb8")), rgb)
    assert np.array_equal(image_to_rgb(array_to_image(np.ascontiguousarray(rgb[..., ::-1]), "bgr8")), rgb)
    rgba = np.concatenate([rgb, np.full((4, 6, 1), 7, np.uint8)], axis=2)
    assert np.array_equal(image_to_rgb(array_to_image(rgba, "rgba8")), rgb)


def _raw(encoding: str, pixels: np.ndarray) -> object:
    from sensor_msgs.msg import Image

    h, w = pixels.shape[:2]
    return Image(height=h, width=w, encoding=encoding, step=pixels.nbytes // h, data=pixels.tobytes())


def test_camera_driver_encodings_convert_to_rgb() -> None:
    """What robot camera drivers publish (YUV 4:2:2, 8-bit Bayer) was refused: the robot's own
    driver feeding the edge (camera:=false) got every frame refused."""
    h, w, rgb = 4, 6, (200, 100, 30)
    for pattern in ("rggb", "bggr", "gbrg", "grbg"):  # ROS names the top-left 2x2 block
        mosaic = np.zeros((h, w), np.uint8)
        for k, colour in enumerate(pattern):
            mosaic[k // 2 :: 2, k % 2 :: 2] = rgb["rgb".index(colour)]
        out = image_to_rgb(_raw(f"bayer_{pattern}8", mosaic))
        assert out.shape == (h, w, 3)
        assert np.allclose(out[1:-1, 1:-1].reshape(-1, 3).mean(0), rgb, atol=3), pattern
    grey = np.full((h, w * 2), 128, np.uint8)  # U/V 128: no colour; luma 180 -> 191 (video range)
    uyvy, yuyv = grey.copy(), grey.copy()
    uyvy[:, 1::2] = 180
    yuyv[:, 0::2] = 180
    for encoding, data in (("yuv422", uyvy), ("yuv422_yuy2", yuyv)):
        out = image_to_rgb(_raw(encoding, data.reshape(h, w, 2)))
        assert out.shape == (h, w, 3) and np.all(np.abs(out.astype(int) - 191) <= 1), encoding


@pytest.mark.parametrize("encoding,truncate", [("16UC1", 0), ("bayer_rggb16", 0), ("rgb8", 10)])
def test_unconvertible_images_are_payload_errors(encoding: str, truncate: int) -> None:
    msg = array_to_image(np.zeros((4, 6, 3), np.uint8), "rgb8")
    msg.encoding = encoding
    if truncate:
        msg.data = bytes(msg.data)[:-truncate]
    with pytest.raises(PayloadError):
        image_to_rgb(msg)


def test_a_cv_bridge_refusal_is_a_payload_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing:
        def imgmsg_to_cv2(self, msg, desired_encoding):
            raise TypeError(f"[{msg.encoding}] is not a color format. but [{desired_encoding}] is.")

    monkeypatch.setattr(image_conv, "CV_BRIDGE", Refusing())
    msg = array_to_image(np.zeros((4, 6), np.uint8), "mono8")
    msg.encoding = "16UC1"
    with pytest.raises(PayloadError, match=r"16UC1.*cv_bridge cannot convert"):
        image_to_rgb(msg)
