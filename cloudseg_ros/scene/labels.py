"""Cityscapes train-id classes, names and palette.

The embedded scene, the models and the Cityscapes loader all speak train ids
(0..18, 255 = ignore): masks mean the same classes and colour the same in RViz whatever
the frames, and a segmenter trained elsewhere on Cityscapes train ids speaks the same ids.
"""

from __future__ import annotations

import numpy as np

IGNORE_ID = 255

CLASS_NAMES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic_light",
    "traffic_sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
NUM_CLASSES = len(CLASS_NAMES)
TRAIN_ID = {name: i for i, name in enumerate(CLASS_NAMES)}

# Classes whose pixels are few and thin: where downscaling hurts most.
SMALL_CLASSES: tuple[str, ...] = ("pole", "traffic_light", "traffic_sign", "person", "rider", "bicycle")

# The official Cityscapes colours for each train id.
PALETTE = np.array(
    [
        (128, 64, 128),
        (244, 35, 232),
        (70, 70, 70),
        (102, 102, 156),
        (190, 153, 153),
        (153, 153, 153),
        (250, 170, 30),
        (220, 220, 0),
        (107, 142, 35),
        (152, 251, 152),
        (70, 130, 180),
        (220, 20, 60),
        (255, 0, 0),
        (0, 0, 142),
        (0, 0, 70),
        (0, 60, 100),
        (0, 80, 100),
        (0, 0, 230),
        (119, 11, 32),
    ],
    dtype=np.uint8,
)

# 256-entry lookup table: any byte value maps to a colour (ignore and unknown ids are black).
COLOR_LUT = np.zeros((256, 3), dtype=np.uint8)
COLOR_LUT[:NUM_CLASSES] = PALETTE


def colorize(labels: np.ndarray) -> np.ndarray:
    """Map an (H, W) array of train ids to an (H, W, 3) RGB palette image."""
    return COLOR_LUT[labels]


# Cityscapes label ids (gtFine *_labelIds.png) -> train ids, for datasets that ship only those.
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_ID, dtype=np.uint8)
for _label_id, _train_id in {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}.items():  # fmt: skip
    LABEL_ID_TO_TRAIN_ID[_label_id] = _train_id
