"""planning/profiles.py by hand: the IDM's terms, the quintic lateral move and the jerk-limited speed
integration, each against numbers worked out on paper."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.planning.profiles import LateralManoeuvres, idm_accel, integrate_speed

INF = np.inf


def idm(v: float, gap: float, lead: float, cruise: float = 20.0) -> float:
    """time gap 1.5 s, standstill 2 m, accel 1.5, comfortable deceleration 3 m/s2."""
    return float(idm_accel(np.array([v]), np.array([gap]), np.array([lead]), cruise, 1.5, 2.0, 1.5, 3.0)[0])


def test_idm_free_road_term() -> None:
    assert idm(10.0, INF, 0.0) == pytest.approx(1.5 * (1 - 0.5**4))  # 1.40625
    assert idm(20.0, INF, 0.0) == pytest.approx(0.0)  # at the cruise speed
    assert idm(0.25, INF, 0.0, cruise=0.5) == pytest.approx(1.5 * (1 - 0.5**4))  # a slow cruise is still a ratio
    assert idm(0.05, INF, 0.0, cruise=0.0) == pytest.approx(1.5 * (1 - 0.5**4))  # cruise 0 counts as 0.1 m/s


def test_idm_interaction_term_by_hand() -> None:
    # Closing on a slower lead: s* = 2 + 10 x 1.5 + 10 x (10 - 8) / (2 sqrt(1.5 x 3)) = 17 + 20 / 4.2426 = 21.714
    desired = 2.0 + 15.0 + 20.0 / (2.0 * np.sqrt(4.5))
    assert idm(10.0, 30.0, 8.0) == pytest.approx(1.5 * (1 - 0.5**4 - (desired / 30.0) ** 2))  # 0.6204
    # A faster lead: the dynamic term would be negative (15 - 23.6), so s* is the standstill gap alone.
    assert idm(10.0, 30.0, 20.0) == pytest.approx(1.5 * (1 - 0.5**4 - (2.0 / 30.0) ** 2))
    # Standing behind a standing lead 4 m ahead: s* = 2, the interaction (2 / 4)^2.
    assert idm(0.0, 4.0, 0.0) == pytest.approx(1.5 * (1 - 0.25))
    # A gap of nearly nothing counts as 0.1 m, not as a division by zero.
    assert idm(0.0, 0.05, 0.0) == pytest.approx(1.5 * (1 - (2.0 / 0.1) ** 2))


def test_idm_takes_many_candidates_and_time_gaps_at_once() -> None:
    accel = idm_accel(
        np.array([10.0, 10.0]), np.array([30.0, INF]), np.array([8.0, 0.0]), 20.0, np.array([1.5, 2.4]), 2.0, 1.5, 3.0
    )
    assert accel == pytest.approx([idm(10.0, 30.0, 8.0), 1.5 * (1 - 0.5**4)])


def test_minimum_jerk_lateral_move_by_hand() -> None:
    # From rest at d = 0 to d = 1 over 10 m: d(u) = 10u^3 - 15u^4 + 6u^5, u = s / 10.
    move = LateralManoeuvres.solve(0.0, 0.0, 0.0, np.array([1.0]), np.array([10.0]))
    distance = np.array([[0.0, 2.5, 5.0, 10.0, 14.0]])
    assert move.at(distance)[0] == pytest.approx([0.0, 0.103515625, 0.5, 1.0, 1.0])
    # d'(s) = (30u^2 - 60u^3 + 30u^4) / 10 and d''(s) = (60u - 180u^2 + 120u^3) / 100, zero once done.
    assert move.at(distance, derivative=1)[0] == pytest.approx([0.0, 0.10546875, 0.1875, 0.0, 0.0], abs=1e-12)
    assert move.at(distance, derivative=2)[0] == pytest.approx([0.0, 0.05625, 0.0, 0.0, 0.0], abs=1e-12)
    assert move.at(np.array([[-3.0]]))[0, 0] == 0.0  # before the start: where it starts


def test_lateral_spans_shorter_than_half_a_metre_are_half_a_metre() -> None:
    moves = LateralManoeuvres.solve(0.0, 0.0, 0.0, np.array([1.0, 1.0, 1.0]), np.array([0.2, 0.5, 1.0]))
    assert moves.spans == pytest.approx([0.5, 0.5, 1.0])
    assert moves.at(np.array([[0.25], [0.25], [0.5]]))[:, 0] == pytest.approx([0.5, 0.5, 0.5])  # half way


def test_speed_follows_the_wish_of_the_step_before_within_jerk_by_hand() -> None:
    # From 10 m/s braking at 2 m/s2, asked to coast then to accelerate: the jerk limit 5 m/s3 (0.5 per step).
    desired = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    s, v, a = integrate_speed(10.0, -2.0, desired, 0.1, 5.0, (-8.0, 2.0))
    assert a[0] == pytest.approx([-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0])
    assert v[0] == pytest.approx([10.0, 9.85, 9.75, 9.7, 9.7, 9.75, 9.85])
    assert s[0] == pytest.approx(np.concatenate([[0.0], np.cumsum(0.05 * (v[0, :-1] + v[0, 1:]))]))


def test_speed_wishes_beyond_the_limits_are_clipped_and_a_stop_releases_the_brake() -> None:
    _, _, a = integrate_speed(20.0, 0.0, np.full((1, 4), -20.0), 0.1, 1000.0, (-8.0, 2.0))
    assert a[0] == pytest.approx([0.0, -8.0, -8.0, -8.0])
    _, _, a = integrate_speed(0.0, 0.0, np.full((1, 3), 9.0), 0.1, 1000.0, (-8.0, 2.0))
    assert a[0] == pytest.approx([0.0, 2.0, 2.0])
    # 0.15 m/s braking at 1 m/s2: 0.05 m/s after one step, standing after the next, and then no braking.
    _, v, a = integrate_speed(0.15, -1.0, np.full((1, 4), -1.0), 0.1, 1000.0, (-8.0, 2.0))
    assert v[0] == pytest.approx([0.15, 0.05, 0.0, 0.0]) and a[0] == pytest.approx([-1.0, -1.0, 0.0, 0.0])
