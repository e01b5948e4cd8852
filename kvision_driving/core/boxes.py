"""Oriented boxes on the ground plane: corners, overlap (separating axes) and distance."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def box_corners(x: float, y: float, yaw: float, length: float, width: float) -> NDArray[np.float64]:
    """(4, 2) corners, counter-clockwise from front-left."""
    c, s = np.cos(yaw), np.sin(yaw)
    half = np.array([[length, width], [-length, width], [-length, -width], [length, -width]]) / 2
    return half @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def boxes_overlap(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    """Whether two convex quadrilaterals (4, 2) intersect (separating axis theorem)."""
    for polygon in (a, b):
        edges = np.roll(polygon, -1, axis=0) - polygon
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        projections_a = a @ normals.T
        projections_b = b @ normals.T
        if np.any(
            (projections_a.max(axis=0) < projections_b.min(axis=0))
            | (projections_b.max(axis=0) < projections_a.min(axis=0))
        ):
            return False
    return True


def _point_segment_distance(points: NDArray, start: NDArray, end: NDArray) -> NDArray[np.float64]:
    """Distances from every point (P, 2) to every segment (S, 2)-(S, 2): (P, S)."""
    d = end - start
    length2 = np.maximum(np.sum(d * d, axis=1), 1e-12)
    rel = points[:, None, :] - start[None]
    t = np.clip(np.sum(rel * d[None], axis=2) / length2, 0.0, 1.0)
    closest = start[None] + t[..., None] * d[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2)


def box_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Smallest distance between two convex quadrilaterals; 0 when they overlap."""
    if boxes_overlap(a, b):
        return 0.0
    a_next, b_next = np.roll(a, -1, axis=0), np.roll(b, -1, axis=0)
    return float(min(_point_segment_distance(a, b, b_next).min(), _point_segment_distance(b, a, a_next).min()))


def box_corners_3d(centre: NDArray[np.floating], yaw: float, size: tuple[float, float, float]) -> NDArray[np.float64]:
    """(8, 3) corners of an upright box: bottom four counter-clockwise, then the top four."""
    length, width, height = size
    footprint = box_corners(float(centre[0]), float(centre[1]), yaw, length, width)
    bottom = np.column_stack([footprint, np.full(4, centre[2] - height / 2)])
    top = np.column_stack([footprint, np.full(4, centre[2] + height / 2)])
    return np.concatenate([bottom, top])
