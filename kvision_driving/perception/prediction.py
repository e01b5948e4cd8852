"""Behaviour prediction: where each road user goes over the next 3 s, conditioned on what it is doing.

Model-based, one or more hypotheses per track, each a path of box centres at 0.1 s with a confidence:

- ``braking``: the deceleration seen in the track (at least a firm 2.5 m/s2) down to a stop;
- ``signal_left`` / ``signal_right``: a lane change of one lane width that way (minimum-jerk lateral
  profile), plus keeping the lane, weighted by how sure the recogniser is;
- ``stopped`` / ``hazard`` / ``standing``: staying put (a stopped car may pull away: a slow start as a
  second hypothesis for ``stopped``);
- ``crossing``: across the road at walking speed: straight on once walking, perpendicular to ego's
  heading towards ego's path while still at the kerb;
- otherwise (``moving``, ``walking``, ``unknown``): the track's velocity, turning only when it turns
  steadily (a bend, an intersection: both halves of its history turn the same way; a lane change's
  swerve does not count), the turn fading over a few seconds.

:func:`constant_velocity` is the baseline the evaluation compares against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

HORIZON_S = 3.0
STEP_S = 0.1
LANE_WIDTH = 3.5
LANE_CHANGE_S = 3.0
WALKING_SPEED = 1.4
TURN_MEMORY_S = 3.0
MIN_TURN_RATE = 0.08  # rad/s: below it the track keeps its heading


@dataclass(frozen=True)
class MotionState:
    """A track now: position and ground velocity in map, heading, and a short history of positions."""

    xy: NDArray[np.float64]  # (2,)
    velocity: NDArray[np.float64]  # (2,)
    yaw: float
    kind: str
    history: NDArray[np.float64]  # (M, 3): t (s, relative to now, <= 0), x, y; oldest first; may be empty


@dataclass(frozen=True)
class Hypothesis:
    xy: NDArray[np.float64]  # (K, 2), at STEP_S, K = HORIZON_S / STEP_S (the first point is STEP_S from now)
    yaw: NDArray[np.float64]  # (K,)
    confidence: float
    label: str


def future_times() -> NDArray[np.float64]:
    """When the points of a hypothesis are (s from now): STEP_S to HORIZON_S."""
    return np.arange(1, round(HORIZON_S / STEP_S) + 1) * STEP_S


def _heading(state: MotionState) -> float:
    speed = float(np.hypot(*state.velocity))
    return float(np.arctan2(state.velocity[1], state.velocity[0])) if speed > 0.5 else state.yaw


def constant_velocity(state: MotionState) -> Hypothesis:
    times = future_times()
    xy = state.xy + times[:, None] * state.velocity[None, :]
    return Hypothesis(xy, np.full(len(times), _heading(state)), 1.0, "constant_velocity")


def _turn_rate(state: MotionState) -> float:
    """Yaw rate from the direction of travel over the history (0 when too short or too slow)."""
    history = state.history
    if len(history) < 4:
        return 0.0
    steps = np.diff(history[:, 1:], axis=0)
    moving = np.linalg.norm(steps, axis=1) > 0.05
    if moving.sum() < 3:
        return 0.0
    headings = np.unwrap(np.arctan2(steps[moving, 1], steps[moving, 0]))
    times = history[1:, 0][moving]
    if times[-1] - times[0] < 0.3:
        return 0.0
    rate = float(np.polyfit(times, headings, 1)[0])
    if abs(rate) < MIN_TURN_RATE:
        return 0.0
    # A bend turns steadily; a lane change swerves one way, then back. Trust a rate only when both halves
    # of the history turn the same way at a similar rate: straight on predicts a swerve better.
    half = len(times) // 2
    if half >= 2:
        early, late = (float(np.polyfit(times[i], headings[i], 1)[0]) for i in (slice(0, half + 1), slice(half, None)))
        if early * late <= 0 or min(abs(early), abs(late)) < 0.5 * max(abs(early), abs(late)):
            return 0.0
    return float(np.clip(rate, -0.6, 0.6))


def _observed_decel(state: MotionState) -> float:
    """Deceleration (m/s2, >= 0) from speeds along the history."""
    history = state.history
    if len(history) < 5:
        return 0.0
    dt = np.diff(history[:, 0])
    valid = dt > 1e-3
    speeds = np.linalg.norm(np.diff(history[:, 1:], axis=0), axis=1)[valid] / dt[valid]
    if len(speeds) < 4:
        return 0.0
    slope = float(np.polyfit(history[1:, 0][valid], speeds, 1)[0])
    return max(-slope, 0.0)


def ctrv(state: MotionState, label: str = "ctrv", confidence: float = 1.0) -> Hypothesis:
    """Turn rate and velocity from the track, the turn rate fading with time constant TURN_MEMORY_S: road
    users straighten out after a lane change or a bend far more often than they circle."""
    times = future_times()
    speed = float(np.hypot(*state.velocity))
    heading0, rate = _heading(state), _turn_rate(state)
    headings = heading0 + rate * TURN_MEMORY_S * (1.0 - np.exp(-times / TURN_MEMORY_S))
    # Integrate heading along the path at 0.1 s (exact enough at these rates, and simple).
    mid = np.concatenate([[heading0], headings[:-1]]) / 2 + headings / 2
    steps = speed * STEP_S * np.stack([np.cos(mid), np.sin(mid)], axis=1)
    return Hypothesis(state.xy + np.cumsum(steps, axis=0), headings, confidence, label)


def _along(
    state: MotionState, distances: NDArray, lateral: NDArray, heading: float, label: str, p: float
) -> Hypothesis:
    forward = np.array([np.cos(heading), np.sin(heading)])
    left = np.array([-forward[1], forward[0]])
    xy = state.xy + distances[:, None] * forward + lateral[:, None] * left
    yaw = np.full(len(distances), heading)
    if len(distances) > 1:
        motion = np.diff(np.vstack([state.xy, xy]), axis=0)
        moving = np.linalg.norm(motion, axis=1) > 1e-3
        yaw[moving] = np.arctan2(motion[moving, 1], motion[moving, 0])
    return Hypothesis(xy, yaw, p, label)


def decelerate(state: MotionState, decel: float, label: str = "braking", confidence: float = 1.0) -> Hypothesis:
    times = future_times()
    speed = float(np.hypot(*state.velocity))
    stop = speed / max(decel, 1e-3)
    travelled = np.where(times < stop, speed * times - 0.5 * decel * times**2, speed * stop - 0.5 * decel * stop**2)
    return _along(state, travelled, np.zeros(len(times)), _heading(state), label, confidence)


def lane_change(state: MotionState, direction: int, confidence: float) -> Hypothesis:
    """A minimum-jerk lane change of one lane width to the left (+1) or right (-1) at the current speed."""
    times = future_times()
    tau = np.clip(times / LANE_CHANGE_S, 0.0, 1.0)
    lateral = direction * LANE_WIDTH * (10 * tau**3 - 15 * tau**4 + 6 * tau**5)
    speed = float(np.hypot(*state.velocity))
    return _along(
        state,
        speed * times,
        lateral,
        _heading(state),
        f"lane_change_{'left' if direction > 0 else 'right'}",
        confidence,
    )


def stay(state: MotionState, label: str, confidence: float = 1.0) -> Hypothesis:
    times = future_times()
    return _along(state, np.zeros(len(times)), np.zeros(len(times)), state.yaw, label, confidence)


def cross(state: MotionState, ego_xy: NDArray, ego_yaw: float, confidence: float) -> Hypothesis:
    """Across the road at walking speed: on along its own way once it walks (the tracker knows best then);
    still at the kerb, perpendicular to ego's heading towards ego's path."""
    times = future_times()
    if float(np.hypot(*state.velocity)) > 0.5:
        return Hypothesis(constant_velocity(state).xy, np.full(len(times), _heading(state)), confidence, "crossing")
    forward = np.array([np.cos(ego_yaw), np.sin(ego_yaw)])
    left = np.array([-forward[1], forward[0]])
    side = float((state.xy - np.asarray(ego_xy)) @ left)
    direction = -left if side > 0 else left
    speed = max(float(np.hypot(*state.velocity)), WALKING_SPEED)
    xy = state.xy + times[:, None] * speed * direction[None, :]
    return Hypothesis(xy, np.full(len(times), float(np.arctan2(direction[1], direction[0]))), confidence, "crossing")


def predict(
    state: MotionState, action: str, action_confidence: float, ego_xy: NDArray, ego_yaw: float
) -> list[Hypothesis]:
    """Hypotheses for one track, confidences summing to 1, most likely first."""
    sure = float(np.clip(action_confidence, 0.0, 1.0))
    speed = float(np.hypot(*state.velocity))
    if action == "braking":
        decel = max(_observed_decel(state), 2.5)
        out = [decelerate(state, decel, confidence=0.5 + 0.4 * sure), ctrv(state, confidence=0.5 - 0.4 * sure)]
    elif action in ("signal_left", "signal_right"):
        p = 0.4 + 0.5 * sure
        out = [lane_change(state, 1 if action == "signal_left" else -1, p), ctrv(state, confidence=1 - p)]
    elif action in ("hazard", "standing"):
        out = [stay(state, action)]
    elif action == "stopped":
        out = [stay(state, "stopped", 0.8), decelerate(_pull_away(state), 0.0, "pulling_away", 0.2)]
    elif action == "crossing":
        out = [cross(state, ego_xy, ego_yaw, 0.6 + 0.3 * sure), ctrv(state, confidence=0.4 - 0.3 * sure)]
    elif speed < 0.3 and state.kind != "pedestrian":
        out = [stay(state, "stationary")]
    else:
        out = [ctrv(state)]
    out = [hypothesis for hypothesis in out if hypothesis.confidence > 1e-3]
    total = sum(hypothesis.confidence for hypothesis in out)
    return sorted(
        (Hypothesis(h.xy, h.yaw, h.confidence / total, h.label) for h in out), key=lambda h: h.confidence, reverse=True
    )


def _pull_away(state: MotionState) -> MotionState:
    """The same track at a walking pace along its heading (a car creeping off from a stop)."""
    heading = np.array([np.cos(state.yaw), np.sin(state.yaw)])
    return MotionState(state.xy, 2.0 * heading, state.yaw, state.kind, state.history)


def displacement_errors(predicted: NDArray, truth: NDArray, horizons_s: tuple[float, ...] = (1.0, 2.0, 3.0)) -> dict:
    """ADE and FDE at each horizon between a predicted path and the true one (both (K, 2) at STEP_S)."""
    out = {}
    for horizon in horizons_s:
        k = min(round(horizon / STEP_S), len(predicted), len(truth))
        errors = np.linalg.norm(predicted[:k] - truth[:k], axis=1)
        out[f"ade_{horizon:g}s"] = float(errors.mean())
        out[f"fde_{horizon:g}s"] = float(errors[-1])
    return out
