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


@pytest.mark.parametrize("encoding,truncate", [("16UC1", 0), ("yuv422", 0), ("rgb8", 10)])
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
