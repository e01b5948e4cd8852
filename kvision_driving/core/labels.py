"""Segmentation label space: the 19 Cityscapes train ids (255 = ignore), names and colours."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

IGNORE = 255

CLASS_NAMES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
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
TRAIN_ID = {name: index for index, name in enumerate(CLASS_NAMES)}

# The official Cityscapes colours, by train id.
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

# Cityscapes labelIds (gtFine_labelIds.png) -> train ids; everything not listed is ignored.
LABEL_ID_TO_TRAIN_ID = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}


def label_ids_to_train_ids(label_ids: NDArray[np.integer]) -> NDArray[np.uint8]:
    """Map a Cityscapes labelIds image to train ids with a lookup table."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id] = train_id
    return _look_up(table, label_ids, "label id")


def check_train_ids(labels: NDArray[np.integer]) -> None:
    """Raise ValueError unless every value is a train id or IGNORE: another label space (labelIds, a
    model with other classes) would otherwise be read as the wrong classes without a word."""
    values = np.asarray(labels)
    if values.size == 0:
        return
    top = int(values.max(where=values != IGNORE, initial=0))
    if top >= len(CLASS_NAMES) or int(values.min()) < 0:
        raise ValueError(f"label {top} is not a train id (0-{len(CLASS_NAMES) - 1}, or {IGNORE} for none)")


def colorize(labels: NDArray[np.integer]) -> NDArray[np.uint8]:
    """An (H, W, 3) rgb image of train ids; ignore is black."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(PALETTE)] = PALETTE
    return _look_up(table, labels, "label")


def _look_up(table: NDArray[np.uint8], values: NDArray[np.integer], what: str) -> NDArray[np.uint8]:
    """``table[values]`` for integer images of any dtype. A value the table does not cover is refused: cast
    to uint8 first, 263 would silently have become 7 (road)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{what}s must be integers, not {values.dtype}")
    if values.dtype != np.uint8 and values.size and (values.min() < 0 or values.max() >= len(table)):
        bad = values[(values < 0) | (values >= len(table))].flat[0]
        raise ValueError(f"{what} {bad} is outside 0-{len(table) - 1}")
    return table[values]
