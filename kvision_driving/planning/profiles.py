"""Motion profiles over the planning horizon: lateral offsets (quintic) and speeds (jerk-limited).

Every function works on many candidates at once (rows) over the same time grid (columns).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def quintic_lateral(
    d0: float,
    d0_rate: float,
    targets: NDArray[np.floating],
    durations: NDArray[np.floating],
    times: NDArray,
    d0_accel: float = 0.0,
) -> NDArray[np.float64]:
    """d(t) (C, K) moving from (d0, d0_rate, d0_accel) to (target, 0, 0) in ``duration`` s, then holding:
    the minimum-jerk lateral manoeuvre of Frenet planners (Werling et al., 2010)."""
    targets = np.asarray(targets, dtype=np.float64)[:, None]
    durations = np.maximum(np.asarray(durations, dtype=np.float64), 0.5)[:, None]
    tau = np.clip(times[None, :] / durations, 0.0, 1.0)
    # d(tau) = d0 + v0 tau + a0/2 tau^2 + c3 tau^3 + c4 tau^4 + c5 tau^5 on normalised time (v0 = rate x T,
    # a0 = accel x T^2); c3..c5 from d(1) = target, d'(1) = 0, d''(1) = 0.
    v0, a0 = d0_rate * durations, d0_accel * durations**2
    rhs = np.concatenate([targets - d0 - v0 - a0 / 2, -v0 - a0, -a0], axis=1)  # (C, 3)
    system = np.array([[1.0, 1.0, 1.0], [3.0, 4.0, 5.0], [6.0, 12.0, 20.0]])
    c3, c4, c5 = np.linalg.solve(system, rhs.T)  # each (C,)
    c3, c4, c5 = c3[:, None], c4[:, None], c5[:, None]
    return d0 + v0 * tau + a0 / 2 * tau**2 + c3 * tau**3 + c4 * tau**4 + c5 * tau**5


def integrate_speed(
    v0: float,
    a0: float,
    desired_accel: NDArray[np.float64],
    dt: float,
    max_jerk: NDArray[np.floating] | float,
    accel_limits: tuple[float, float],
) -> tuple[NDArray, NDArray, NDArray]:
    """Follow desired accelerations (C, K) with a jerk limit and acceleration limits, speed never below 0:
    (s (C, K) travelled from 0, v (C, K), a (C, K)); column 0 is now."""
    candidates, steps = desired_accel.shape
    s, v, a = np.zeros((candidates, steps)), np.zeros((candidates, steps)), np.zeros((candidates, steps))
    v[:, 0], a[:, 0] = v0, a0
    jerk_step = np.broadcast_to(np.asarray(max_jerk, dtype=np.float64) * dt, (candidates,))
    for k in range(1, steps):
        wanted = np.clip(desired_accel[:, k - 1], *accel_limits)
        a[:, k] = a[:, k - 1] + np.clip(wanted - a[:, k - 1], -jerk_step, jerk_step)
        v[:, k] = np.maximum(v[:, k - 1] + a[:, k] * dt, 0.0)
        a[:, k] = np.where(v[:, k] <= 0.0, 0.0, a[:, k])  # stopped: no more braking
        s[:, k] = s[:, k - 1] + 0.5 * (v[:, k - 1] + v[:, k]) * dt
    return s, v, a


def idm_accel(
    v: NDArray[np.floating],
    gap: NDArray[np.floating],
    lead_speed: NDArray[np.floating],
    cruise: float,
    time_gap: NDArray[np.floating] | float,
    standstill: float,
    accel: float,
    comfort_decel: float,
) -> NDArray[np.float64]:
    """The Intelligent Driver Model (Treiber et al., 2000): free-road term and interaction term."""
    v = np.asarray(v, dtype=np.float64)
    desired_gap = standstill + np.maximum(
        v * time_gap + v * (v - lead_speed) / (2 * np.sqrt(accel * comfort_decel)), 0.0
    )
    interaction = np.where(np.isfinite(gap), (desired_gap / np.maximum(gap, 0.1)) ** 2, 0.0)
    return accel * (1.0 - (v / max(cruise, 0.1)) ** 4 - interaction)
