"""Motion profiles over the planning horizon: lateral offsets (quintic, over distance) and speeds (jerk-limited).

Every function works on many candidates at once (rows) over the same time grid (columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class LateralManoeuvres:
    """Minimum-jerk lateral moves (Werling et al., 2010) as functions of the distance travelled: from
    (d0, d0', d0'') to (target, 0, 0) over ``spans`` metres, then holding. Over distance, not time: the path's
    shape does not depend on the speed it is driven at, so a candidate that brakes to a stop mid-manoeuvre
    stops part-way across, as a car does, instead of sliding sideways on the spot."""

    coefficients: NDArray[np.float64]  # (C, 6): d on normalised distance, powers 0..5
    spans: NDArray[np.float64]  # (C,) metres

    @classmethod
    def solve(
        cls, d0: float, slope0: float, curvature0: float, targets: NDArray[np.floating], spans: NDArray[np.floating]
    ) -> LateralManoeuvres:
        """``slope0`` = dd/ds and ``curvature0`` = d2d/ds2 where ego is now."""
        targets = np.asarray(targets, dtype=np.float64)
        spans = np.maximum(np.asarray(spans, dtype=np.float64), 0.5)
        # d(u) = d0 + v0 u + a0/2 u^2 + c3 u^3 + c4 u^4 + c5 u^5 on u = s / span (v0 = slope x span, a0 =
        # curvature x span^2); c3..c5 from d(1) = target, d'(1) = 0, d''(1) = 0.
        v0, a0 = slope0 * spans, curvature0 * spans**2
        rhs = np.stack([targets - d0 - v0 - a0 / 2, -v0 - a0, -a0])  # (3, C)
        c3, c4, c5 = np.linalg.solve(np.array([[1.0, 1.0, 1.0], [3.0, 4.0, 5.0], [6.0, 12.0, 20.0]]), rhs)
        coefficients = np.stack([np.full_like(v0, d0), v0, a0 / 2, c3, c4, c5], axis=1)
        return cls(coefficients, spans)

    def take(self, rows: NDArray[np.intp]) -> LateralManoeuvres:
        return LateralManoeuvres(self.coefficients[rows], self.spans[rows])

    def at(self, distance: NDArray[np.floating], derivative: int = 0) -> NDArray[np.float64]:
        """d (or its ``derivative``-th derivative along the way) at ``distance`` (C, ...) metres travelled."""
        distance = np.asarray(distance, dtype=np.float64)
        extra = (1,) * (distance.ndim - 1)
        spans = self.spans.reshape(-1, *extra)
        u = np.clip(distance / spans, 0.0, 1.0)
        coefficients = self.coefficients
        for _ in range(derivative):
            coefficients = coefficients[:, 1:] * np.arange(1, coefficients.shape[1])
        value = np.zeros(np.broadcast_shapes(distance.shape, spans.shape))
        for power in range(coefficients.shape[1] - 1, -1, -1):  # Horner
            value = value * u + coefficients[:, power].reshape(-1, *extra)
        if derivative:
            value = np.where(distance / spans >= 1.0, 0.0, value / spans**derivative)  # holding beyond the end
        return value


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
