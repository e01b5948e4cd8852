"""The Frenet frame of the route: arc length ``s`` along it, lateral offset ``d`` (positive to the left)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.polyline import Polyline


class FrenetFrame:
    def __init__(self, route_xy: NDArray[np.floating]) -> None:
        self.route = Polyline(route_xy)

    @property
    def length(self) -> float:
        return self.route.length

    def to_frenet(self, xy: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(s, d) of points (N, 2)."""
        return self.route.project(xy)

    def to_cartesian(
        self, s: NDArray[np.floating], d: NDArray[np.floating]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(xy (..., 2), heading (...)) of Frenet points; heading is the route's plus the lateral slope."""
        s, d = np.asarray(s, dtype=np.float64), np.asarray(d, dtype=np.float64)
        centre, heading = self.route.pose(s)
        normal = np.stack([-np.sin(heading), np.cos(heading)], axis=-1)
        xy = centre + d[..., None] * normal
        return xy, heading

    def heading_at(self, s: float) -> float:
        _, heading = self.route.pose(s)
        return float(heading)
