"""What the planner sees, free of ROS: ego, predicted road users with their hypotheses, the route."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.actions import UNKNOWN_ACTION


@dataclass(frozen=True)
class PredictedPath:
    """One hypothesis of where an object goes: box centres in map at ``time_step`` from the object's stamp."""

    xy: NDArray[np.float64]  # (K, 2)
    yaw: NDArray[np.float64]  # (K,)
    time_step: float
    confidence: float


@dataclass(frozen=True)
class RoadUser:
    """A predicted object: its box now, what it is doing, and where it may go."""

    object_id: str
    kind: str  # car | truck | bus | bicycle | motorcycle | pedestrian | unknown
    xy: NDArray[np.float64]  # box centre in map
    yaw: float
    length: float
    width: float
    speed: float  # along its heading, m/s
    action: str = UNKNOWN_ACTION
    paths: tuple[PredictedPath, ...] = field(default_factory=tuple)

    @property
    def is_pedestrian(self) -> bool:
        return self.kind == "pedestrian"

    def positions(self, times: NDArray[np.float64], min_confidence: float) -> list[tuple[float, NDArray, NDArray]]:
        """(confidence, xy (K, 2), yaw (K,)) at ``times`` (s from now) for every hypothesis worth checking;
        an object without hypotheses keeps its heading at constant speed. Beyond a path's end it goes on
        at the path's last velocity (a predicted stop stays stopped)."""
        hypotheses = [path for path in self.paths if path.confidence >= min_confidence and len(path.xy)]
        if not hypotheses:
            heading = np.array([np.cos(self.yaw), np.sin(self.yaw)])
            xy = self.xy + times[:, None] * self.speed * heading
            return [(1.0, xy, np.full(len(times), self.yaw))]
        out = []
        for path in hypotheses:
            path_times = np.arange(len(path.xy)) * path.time_step
            xy = np.stack([np.interp(times, path_times, path.xy[:, axis]) for axis in (0, 1)], axis=1)
            yaw = np.interp(times, path_times, np.unwrap(path.yaw))
            beyond = times > path_times[-1]
            if beyond.any() and len(path.xy) > 1:
                last_velocity = (path.xy[-1] - path.xy[-2]) / path.time_step
                xy[beyond] = path.xy[-1] + (times[beyond] - path_times[-1])[:, None] * last_velocity
            out.append((path.confidence, xy, yaw))
        return out
