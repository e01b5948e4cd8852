"""2-D polylines parameterised by arc length: lanes, routes, trajectories; Frenet projection on them."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class Polyline:
    """A 2-D polyline parameterised by arc length ``s``, with interpolated pose lookups."""

    def __init__(self, points: NDArray[np.floating]) -> None:
        points = np.asarray(points, dtype=np.float64)
        keep = np.concatenate([[True], np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-6])
        self.points = points[keep]
        if len(self.points) < 2:
            raise ValueError("a path needs at least two distinct points")
        steps = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        self.s = np.concatenate([[0.0], np.cumsum(steps)])
        deltas = np.diff(self.points, axis=0)
        self._segment_heading = np.arctan2(deltas[:, 1], deltas[:, 0])

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def pose(self, s: NDArray[np.floating] | float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(xy (..., 2), heading (...)) at arc length(s) ``s``; beyond the ends the path is extended straight."""
        s = np.asarray(s, dtype=np.float64)
        index = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.s) - 2)
        heading = self._segment_heading[index]
        along = s - self.s[index]
        xy = self.points[index] + along[..., None] * np.stack([np.cos(heading), np.sin(heading)], axis=-1)
        return xy, heading

    def offset(self, lateral: NDArray[np.floating] | float) -> Polyline:
        """A parallel path, ``lateral`` metres to the left (negative: right); may vary per point."""
        normals = self.normals()
        return Polyline(self.points + np.asarray(lateral, dtype=np.float64)[..., None] * normals)

    def normals(self) -> NDArray[np.float64]:
        """Left unit normals at every point (averaged over the adjacent segments)."""
        tangent = np.gradient(self.points, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)

    def project(self, xy: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(s, lateral) of points (N, 2) on this path: nearest segment, lateral positive to the left."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        a = self.points[:-1]
        d = np.diff(self.points, axis=0)
        length2 = np.einsum("ij,ij->i", d, d)
        rel = xy[:, None, :] - a[None, :, :]
        t = np.clip(np.einsum("nij,ij->ni", rel, d) / length2, 0.0, 1.0)
        closest = a[None] + t[..., None] * d[None]
        dist2 = np.sum((xy[:, None, :] - closest) ** 2, axis=2)
        best = np.argmin(dist2, axis=1)
        rows = np.arange(len(xy))
        s = self.s[best] + t[rows, best] * np.sqrt(length2[best])
        cross = d[best, 0] * rel[rows, best, 1] - d[best, 1] * rel[rows, best, 0]
        lateral = np.sign(cross) * np.sqrt(dist2[rows, best])
        return s, lateral

    def resample(self, step: float) -> Polyline:
        xy, _ = self.pose(np.linspace(0.0, self.length, max(int(np.ceil(self.length / step)) + 1, 2)))
        return Polyline(xy)
