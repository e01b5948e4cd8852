"""core/labels.py: the Cityscapes train ids against Cityscapes' own files, the range check, colours."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kvision_driving.core.labels import (
    CLASS_NAMES,
    IGNORE,
    PALETTE,
    TRAIN_ID,
    check_train_ids,
    colorize,
    label_ids_to_train_ids,
)

SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294"


def test_label_ids_become_the_train_ids_cityscapes_ships_beside_them() -> None:
    label_ids = cv2.imread(f"{SAMPLE}_gtFine_labelIds.png", cv2.IMREAD_UNCHANGED)
    expected = cv2.imread(f"{SAMPLE}_gtFine_labelTrainIds.png", cv2.IMREAD_UNCHANGED)
    train_ids = label_ids_to_train_ids(label_ids)
    assert train_ids.dtype == np.uint8 and train_ids.shape == expected.shape
    # The sample's two images were downsampled apart, so 0.2 % of their edge pixels disagree.
    assert np.mean(train_ids == expected) > 0.99
    for train_id in np.unique(expected[expected != IGNORE]):
        assert np.mean(train_ids[expected == train_id] == train_id) > 0.9, CLASS_NAMES[train_id]


def test_only_the_nineteen_evaluated_label_ids_map_and_all_else_is_ignored() -> None:
    train_ids = label_ids_to_train_ids(np.arange(256, dtype=np.uint8))
    mapped = np.flatnonzero(train_ids != IGNORE)
    assert mapped.tolist() == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    assert train_ids[mapped].tolist() == list(range(19))
    assert CLASS_NAMES[train_ids[26]] == "car" and CLASS_NAMES[train_ids[33]] == "bicycle"
    assert TRAIN_ID["road"] == 0 and TRAIN_ID["sky"] == 10 and TRAIN_ID["bicycle"] == 18


@pytest.mark.parametrize("labels", [[0, 18, IGNORE], [IGNORE, IGNORE], [], [[5, 6], [7, 8]]])
def test_train_ids_and_ignore_pass_the_check(labels: list) -> None:
    check_train_ids(np.array(labels, dtype=np.uint8))


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 19], r"^label 19 is not a train id \(0-18, or 255 for none\)$"), ([3, 254], r"^label 254 is not")],
)
def test_other_label_spaces_are_refused(labels: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_train_ids(np.array(labels, dtype=np.uint8))


def test_negative_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="not a train id"):
        check_train_ids(np.array([0, -1], dtype=np.int16))


def test_colours_are_cityscapes_own_and_ignore_is_black() -> None:
    image = colorize(np.array([[0, 13], [IGNORE, 10]], dtype=np.uint8))
    assert image.shape == (2, 2, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [128, 64, 128] and image[0, 1].tolist() == [0, 0, 142]  # road, car
    assert image[1, 0].tolist() == [0, 0, 0] and image[1, 1].tolist() == [70, 130, 180]  # ignore, sky
    assert len(PALETTE) == len(CLASS_NAMES) and len({tuple(colour) for colour in PALETTE}) == len(PALETTE)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.uint16])
def test_label_images_of_any_integer_type_look_up_alike(dtype: type) -> None:
    ids = np.array([[0, 7, 26], [33, 255, 34]], dtype=dtype)
    assert label_ids_to_train_ids(ids).tolist() == [[IGNORE, 0, 13], [18, IGNORE, IGNORE]]
    labels = np.array([[0, 18, 255]], dtype=dtype)
    assert colorize(labels).tolist() == [[list(PALETTE[0]), list(PALETTE[18]), [0, 0, 0]]]


@pytest.mark.parametrize(("value", "dtype"), [(256, np.int32), (263, np.uint16), (-1, np.int64)])
def test_values_beyond_the_table_are_refused_not_wrapped(value: int, dtype: type) -> None:
    """As uint8, 263 would be 7 (road) and -1 would be 255: a wrong class or none, without a word."""
    image = np.array([[7, value]], dtype=dtype)
    with pytest.raises(ValueError, match=f"label id {value} is outside 0-255"):
        label_ids_to_train_ids(image)
    with pytest.raises(ValueError, match=f"label {value} is outside 0-255"):
        colorize(image)


def test_float_images_are_refused() -> None:
    with pytest.raises(ValueError, match="label ids must be integers, not float32"):
        label_ids_to_train_ids(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="labels must be integers, not float64"):
        colorize(np.zeros((2, 2)))


def test_the_value_named_is_the_one_beyond_the_table() -> None:
    with pytest.raises(ValueError, match="label id 300 is outside 0-255"):
        label_ids_to_train_ids(np.array([[0, 7, 300]], np.int32))
