"""The ego vehicle: a kinematic bicycle model, a trajectory follower and the built-in autopilot."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.vehicle import WHEELBASE, EgoState
from kvision_driving.sim.road import Path

MAX_STEER = 0.6  # rad
MAX_ACCEL, MAX_DECEL = 3.0, 8.0


def step_bicycle(state: EgoState, accel: float, steer: float, dt: float) -> EgoState:
    """Advance the kinematic bicycle model (rear-axle reference) by ``dt``; speed never goes negative."""
    accel = float(np.clip(accel, -MAX_DECEL, MAX_ACCEL))
    steer = float(np.clip(steer, -MAX_STEER, MAX_STEER))
    v_next = max(state.v + accel * dt, 0.0)
    v_mean = (state.v + v_next) / 2
    yaw_rate = v_mean * np.tan(steer) / WHEELBASE
    yaw = state.yaw + yaw_rate * dt
    heading = state.yaw + yaw_rate * dt / 2
    return EgoState(
        x=state.x + v_mean * np.cos(heading) * dt,
        y=state.y + v_mean * np.sin(heading) * dt,
        yaw=yaw,
        v=v_next,
        a=(v_next - state.v) / dt,
        steer=steer,
    )


def pure_pursuit(state: EgoState, path: Path, lookahead: float) -> float:
    """Steering angle towards the point ``lookahead`` metres ahead of the projection on ``path``."""
    s, _ = path.project(np.array([[state.x, state.y]]))
    target, _ = path.pose(s[0] + lookahead)
    dx, dy = target[0] - state.x, target[1] - state.y
    local_y = -np.sin(state.yaw) * dx + np.cos(state.yaw) * dy
    distance2 = dx * dx + dy * dy
    curvature = 2.0 * local_y / max(distance2, 1e-6)
    return float(np.arctan(WHEELBASE * curvature))


@dataclass(frozen=True)
class Trajectory:
    """Planned poses with times (seconds on the simulator clock): what /planning/trajectory carries."""

    t: NDArray[np.float64]  # (N,)
    xy: NDArray[np.float64]  # (N, 2)

    def speed_at(self, time_s: float) -> float:
        """Speed implied by the stamps around ``time_s`` (distance over time between poses)."""
        if len(self.t) < 2:
            return 0.0
        step = np.linalg.norm(np.diff(self.xy, axis=0), axis=1)
        dt = np.maximum(np.diff(self.t), 1e-3)
        speeds = step / dt
        index = int(np.clip(np.searchsorted(self.t, time_s) - 1, 0, len(speeds) - 1))
        return float(speeds[index])


def follow_trajectory(state: EgoState, trajectory: Trajectory, time_s: float, dt: float) -> tuple[float, float]:
    """(acceleration, steering) to track a timed trajectory: pure pursuit for the path; for speed, the
    acceleration the stamps imply (feedforward, read a little ahead for the actuation lag) plus a
    P-term on the speed error, so a planned deceleration is flown as planned, not lagged."""
    if len(trajectory.t) < 2 or np.linalg.norm(trajectory.xy[-1] - trajectory.xy[0]) < 0.05:
        return (-2.5 if state.v > 0 else 0.0), state.steer  # a standstill trajectory: stop, hold the wheel
    planned_v = trajectory.speed_at(time_s + 0.05)
    ahead_v = trajectory.speed_at(time_s + 0.35)
    accel = (ahead_v - planned_v) / 0.3 + 1.5 * (planned_v - state.v)
    steer = pure_pursuit(state, Path(trajectory.xy), lookahead=max(4.0, 0.8 * state.v))
    return accel, steer


def autopilot(
    state: EgoState, route: Path, cruise_speed: float, gap_ahead: float, lead_speed: float
) -> tuple[float, float]:
    """The built-in driver for recordings: keep the route, cruise, follow what is ahead (IDM)."""
    steer = pure_pursuit(state, route, lookahead=max(5.0, 0.8 * state.v))
    free = 1.5 * (1.0 - (state.v / max(cruise_speed, 0.1)) ** 4)
    if np.isfinite(gap_ahead):
        desired = 3.0 + state.v * 1.4 + state.v * (state.v - lead_speed) / (2 * np.sqrt(1.5 * 2.5))
        free -= 1.5 * (max(desired, 0.0) / max(gap_ahead, 0.1)) ** 2
    return float(np.clip(free, -MAX_DECEL, MAX_ACCEL)), steer


def with_speed(state: EgoState, v: float) -> EgoState:
    return replace(state, v=v)
