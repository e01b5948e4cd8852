"""Predicted paths of autoware_perception_msgs messages (rclpy's or rosbags'), sampled at given times."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def path_times_s(path: Any) -> NDArray[np.float64]:
    """When each pose of a PredictedPath is, from the message's stamp: Autoware's convention, the first pose
    is the object now and pose i is i * time_step later."""
    step = path.time_step.sec + path.time_step.nanosec * 1e-9
    return np.arange(len(path.path)) * step


def path_xy_at(path: Any, times_s: NDArray[np.floating]) -> NDArray[np.float64]:
    """(K, 2) positions of a PredictedPath at ``times_s`` (linear between poses); NaN outside the path."""
    known = path_times_s(path)
    xy = np.array([[pose.position.x, pose.position.y] for pose in path.path]).reshape(-1, 2)
    times = np.asarray(times_s, dtype=np.float64)
    if len(known) == 0:
        return np.full((len(times), 2), np.nan)
    out = np.stack([np.interp(times, known, xy[:, axis]) for axis in (0, 1)], axis=1)
    out[(times < known[0] - 1e-9) | (times > known[-1] + 1e-9)] = np.nan
    return out
