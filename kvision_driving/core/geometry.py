"""Rigid transforms as 4x4 homogeneous matrices (REP 103: metres, radians, right-handed)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

Matrix4 = NDArray[np.float64]

#: A quaternion whose norm is further than this from 1 is refused rather than silently renormalised.
QUATERNION_NORM_TOLERANCE = 1e-2


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> NDArray[np.float64]:
    """3x3 rotation from a quaternion (x, y, z, w), normalised; raises ValueError if degenerate."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ValueError(f"quaternion ({x}, {y}, {z}, {w}) is not a rotation (norm {norm:.4g})")
    return Rotation.from_quat(q / norm).as_matrix()


def quaternion_yaws(quaternions: ArrayLike) -> NDArray[np.float64]:
    """Yaw (rotation about z) of each quaternion (N, 4) as (x, y, z, w), vectorised; ValueError if any is
    not a rotation (the same test as :func:`quaternion_to_matrix`)."""
    q = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4)
    norms = np.linalg.norm(q, axis=1)
    bad = ~np.isfinite(norms) | (np.abs(norms - 1.0) > QUATERNION_NORM_TOLERANCE)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"quaternion {tuple(q[first].tolist())} is not a rotation (norm {norms[first]:.4g})")
    x, y, z, w = (q / norms[:, None]).T
    return np.arctan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def matrix_to_quaternion(rotation: ArrayLike) -> tuple[float, float, float, float]:
    """Quaternion (x, y, z, w) of a 3x3 rotation matrix, with w >= 0."""
    q = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat()
    if q[3] < 0:
        q = -q
    return float(q[0]), float(q[1]), float(q[2]), float(q[3])


def make_transform(rotation: ArrayLike | None = None, translation: ArrayLike | None = None) -> Matrix4:
    """4x4 transform from a 3x3 rotation and a translation (either may be omitted)."""
    transform = np.eye(4)
    if rotation is not None:
        transform[:3, :3] = np.asarray(rotation, dtype=np.float64)
    if translation is not None:
        transform[:3, 3] = np.asarray(translation, dtype=np.float64)
    return transform


def invert_transform(transform: Matrix4) -> Matrix4:
    """Inverse of a rigid transform, using R^T rather than a general matrix inverse."""
    rotation = transform[:3, :3]
    inverse = np.eye(4)
    inverse[:3, :3] = rotation.T
    inverse[:3, 3] = -rotation.T @ transform[:3, 3]
    return inverse


def transform_points(transform: Matrix4, points: NDArray[np.floating]) -> NDArray[np.floating]:
    """Apply a 4x4 transform to an (N, 3) array of points; keeps the input dtype."""
    rotation = transform[:3, :3].astype(points.dtype, copy=False)
    translation = transform[:3, 3].astype(points.dtype, copy=False)
    return points @ rotation.T + translation


def finite_rows(values: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Which rows of an (N, K) array hold only finite values. Column by column: numpy reduces a short last
    axis (``isfinite(values).all(axis=1)``) element by element, twenty times slower on a lidar sweep."""
    finite = np.isfinite(values[:, 0])
    for column in range(1, values.shape[1]):
        finite &= np.isfinite(values[:, column])
    return finite


def planar_yaw(orientation: Any) -> float:
    """Yaw of a rotation about z only, from its quaternion (anything with ``z`` and ``w``): a 2-D pose's heading."""
    return float(2.0 * np.arctan2(orientation.z, orientation.w))


def yaw_of(transform: Matrix4) -> float:
    """Heading about z of a transform's rotation (radians)."""
    return float(np.arctan2(transform[1, 0], transform[0, 0]))
