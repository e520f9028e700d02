"""The embedded procedural driving scene and the Cityscapes-layout reader/writer.

``DrivingScene(seed, width, height, variant).render(index)`` gives a deterministic,
random-access frame (``SceneFrame``: RGB image, Cityscapes train-id labels, index,
time). ``write_cityscapes_frame`` and ``CityscapesDataset`` store and read frames in
the Cityscapes directory layout (the camera plays such folders, real Cityscapes data too).
"""

from cloudseg_ros.scene.cityscapes import CityscapesDataset, write_cityscapes_frame
from cloudseg_ros.scene.generator import VARIANTS, DrivingScene, Placement, SceneFrame

__all__ = [
    "VARIANTS",
    "CityscapesDataset",
    "DrivingScene",
    "Placement",
    "SceneFrame",
    "write_cityscapes_frame",
]
