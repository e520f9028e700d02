"""The camera node as a process: what its diagnostics say about the frames it publishes.

Verifies, with the real `camera_node` executable: CameraInfo carries the synthetic scene's
intrinsics; a camera that cannot keep the rate asked says so (WARN with the rate it
achieves: the edge's camera_fps and the controller's profile assume the asked rate); one
that stops at max_frames says so (it said OK and published nothing).
"""

from __future__ import annotations

import random
import time

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo

from cloudseg_ros.demo.observer import RELIABLE, SENSOR, DomainNode, wait_until
from cloudseg_ros.demo.processes import NodeSpec, ProcessGroup
from cloudseg_ros.scene.camera import intrinsics


def _status(node: DomainNode) -> tuple[bytes, str, dict[str, str]] | None:
    for msg in reversed(node.messages("/diagnostics")):
        for st in msg.status:
            if "camera" in st.name:
                return st.level, st.message, {kv.key: kv.value for kv in st.values}
    return None


def test_camera_diagnostics_tell_a_slow_camera_and_a_finished_one() -> None:
    domain = random.randrange(120, 140)
    params = {"source": "synthetic", "width": 512, "height": 256, "fps": 240.0, "max_frames": 120}
    with ProcessGroup() as group:
        group.start(NodeSpec("camera_node", "camera", domain, "cam9", (), params), "camera")
        node = DomainNode(domain, "test_camera_driver")
        try:
            node.listen(DiagnosticArray, "/diagnostics", RELIABLE)
            node.listen(CameraInfo, "/cam9/camera/camera_info", SENSOR)
            assert wait_until(lambda: node.messages("/cam9/camera/camera_info"), 30)
            f, cx, cy = intrinsics(512, 256)
            assert list(node.messages("/cam9/camera/camera_info")[-1].k) == [
                f,
                0.0,
                cx,
                0.0,
                f,
                cy,
                0.0,
                0.0,
                1.0,
            ]

            def slow() -> bool:  # rendering 512x256 frames takes far longer than 1/240 s
                status = _status(node)
                return status is not None and "of the 240 asked" in status[1]

            assert wait_until(slow, 30), _status(node)
            assert _status(node)[0] == b"\x01" and float(_status(node)[2]["rate_hz"]) < 216

            def finished() -> bool:
                status = _status(node)
                return status is not None and "max_frames reached" in status[1]

            assert wait_until(finished, 60), _status(node)
            assert _status(node)[0] == b"\x01" and _status(node)[2]["published"] == "120"
            assert not group.failed()
        finally:
            node.close()


def test_a_camera_stretched_to_another_aspect_says_so(tmp_path) -> None:
    """The shipped robot.yaml publishes 1024x512: a 4:3 camera was stretched to 2:1 in silence."""
    import cv2
    import numpy as np

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    params = {"source": "folder", "uri": str(tmp_path), "width": 128, "height": 64, "fps": 20.0}
    with ProcessGroup() as group:
        group.start(
            NodeSpec("camera_node", "camera", random.randrange(140, 160), "cam9", (), params), "camera"
        )
        said = "folder frames of 64x48 are stretched to 128x64"
        assert wait_until(lambda: said in group.log_text("camera"), 30), group.log_text("camera")
        time.sleep(1.0)
        assert group.log_text("camera").count(said) == 1 and not group.failed()
