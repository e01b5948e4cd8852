"""The ego vehicle: its body and its state, one definition for the simulator, the planner and the drawings.

base_link is the rear axle's centre (as in Autoware); the body's box centre is ahead of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# The simulator's car, and the planner's default footprint (parameters of the planning node on a vehicle).
EGO_LENGTH, EGO_WIDTH = 4.6, 1.9
WHEELBASE = 2.8
REAR_AXLE_TO_CENTRE = 1.4


@dataclass(frozen=True)
class EgoState:
    """base_link in the map frame: rear-axle position, heading, speed, longitudinal acceleration and the
    front wheels' steering angle (the simulator's bicycle model; planning leaves it 0)."""

    x: float
    y: float
    yaw: float
    v: float
    a: float = 0.0
    steer: float = 0.0

    @property
    def xy(self) -> NDArray[np.float64]:
        return np.array([self.x, self.y])

    def box_centre(self) -> NDArray[np.float64]:
        return self.xy + REAR_AXLE_TO_CENTRE * np.array([np.cos(self.yaw), np.sin(self.yaw)])
