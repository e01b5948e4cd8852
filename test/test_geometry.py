"""``core.geometry`` by hand and against scipy: the quaternion checks at their limits, their messages, the
sign convention, and the dtypes kept. Each case was checked against a planted bug (scripts/mutation.sh): a
norm check joined with ``and``, yaws from unnormalised quaternions, the error naming the wrong row, the
w >= 0 flip removed, a transform's float32 points returned as float64."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kvision_driving.core.geometry import (
    make_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
    quaternion_yaws,
    transform_points,
)


def test_yaws_of_nearly_unit_quaternions_are_those_of_the_normalised_ones() -> None:
    rotations = Rotation.from_euler("ZYX", [[0.3, 0.1, -0.2], [-2.5, 0.0, 0.4], [3.0, -0.3, 0.0]])
    quaternions = rotations.as_quat() * np.array([[1.009], [0.991], [1.0]])  # within the 1 % tolerance
    expected = rotations.as_euler("ZYX")[:, 0]  # intrinsic: heading, then pitch, then roll
    np.testing.assert_allclose(quaternion_yaws(quaternions), expected, atol=1e-12)


def test_yaws_refuse_the_first_quaternion_that_is_no_rotation_by_name() -> None:
    good = [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match=r"^quaternion \(0\.0, 0\.0, 0\.0, 2\.0\) is not a rotation \(norm 2\)$"):
        quaternion_yaws([good, [0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]])  # finite, but twice too long
    with pytest.raises(ValueError, match=r"norm 1\.02"):
        quaternion_yaws([good, [0.0, 0.0, 0.0, 1.02]])
    with pytest.raises(ValueError, match=r"norm nan"):
        quaternion_yaws([[np.nan, 0.0, 0.0, 1.0]])
    assert quaternion_yaws([good, [0.0, 0.0, 0.0, 1.0099]]).tolist() == [0.0, 0.0]


def test_one_quaternion_is_refused_as_the_many_are() -> None:
    np.testing.assert_allclose(quaternion_to_matrix(0.0, 0.0, 0.0, 1.0099), np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match=r"^quaternion \(0\.0, 0\.0, 0\.0, 1\.02\) is not a rotation \(norm 1\.02\)$"):
        quaternion_to_matrix(0.0, 0.0, 0.0, 1.02)


def test_matrix_to_quaternion_gives_w_non_negative_for_the_same_rotation() -> None:
    rotations = Rotation.random(200, random_state=1)
    flipped = 0
    for rotation in rotations:
        q = matrix_to_quaternion(rotation.as_matrix())
        assert q[3] >= 0.0
        np.testing.assert_allclose(Rotation.from_quat(q).as_matrix(), rotation.as_matrix(), atol=1e-12)
        flipped += bool(Rotation.from_matrix(rotation.as_matrix()).as_quat()[3] < 0)
    assert flipped > 50  # scipy's own answer often has w < 0: the flip is exercised


def test_transforms_keep_the_points_float32_and_apply_rotation_then_translation() -> None:
    transform = make_transform(Rotation.from_euler("z", 90, degrees=True).as_matrix(), [1, 2, 3])
    assert transform.dtype == np.float64
    points = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    moved = transform_points(transform, points)
    assert moved.dtype == np.float32
    np.testing.assert_allclose(moved, [[1.0, 3.0, 3.0], [1.0, 2.0, 4.0]], atol=1e-6)
