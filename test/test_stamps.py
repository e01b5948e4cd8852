"""core/stamps.py by hand: the order of a stream's stamps and one item per window of stamp time."""

from __future__ import annotations

import pytest

from kvision_driving.core.stamps import RateWindows, StampGate, StampOrder

MS = 1_000_000


def test_only_duplicates_and_late_stamps_are_skipped() -> None:
    assert [order.skip for order in StampOrder] == [False, True, True, False]
    assert [order.value for order in StampOrder] == ["new", "duplicate", "late", "jump_back"]


def test_late_up_to_half_a_second_back_by_default_and_exactly_at_the_limit() -> None:
    gate = StampGate()
    assert gate.check(1_000 * MS) is StampOrder.NEW and gate.newest_ns == 1_000 * MS
    assert gate.check(500 * MS) is StampOrder.LATE  # exactly 0.5 s back: still this timeline
    assert gate.newest_ns == 1_000 * MS  # a late stamp does not move the newest
    assert gate.check(500 * MS - 1) is StampOrder.JUMP_BACK
    assert gate.newest_ns == 500 * MS - 1  # the new timeline starts here
    assert gate.check(500 * MS - 1) is StampOrder.DUPLICATE
    assert gate.check(400 * MS) is StampOrder.LATE
    assert gate.check(500 * MS) is StampOrder.NEW


def test_reset_forgets_the_newest_stamp() -> None:
    gate = StampGate(jump_back_ns=10)
    gate.check(100)
    gate.reset()
    assert gate.newest_ns is None
    assert gate.check(95) is StampOrder.NEW  # would have been late before the reset


def test_one_item_per_window_of_stamp_time() -> None:
    windows = RateWindows(10.0)
    assert windows.period_ns == 100 * MS
    assert windows.open(0) and windows.open(0)  # asking does not claim
    assert windows.take(0) and not windows.open(99 * MS)
    assert not windows.take(99 * MS) and windows.limited == 1
    assert windows.take(100 * MS) and windows.limited == 1
    assert not windows.take(150 * MS) and not windows.take(199 * MS) and windows.limited == 3
    assert windows.take(350 * MS)  # a skipped window does not hold anything back
    windows.reset()
    assert windows.take(360 * MS) and windows.limited == 3


def test_windows_follow_stamps_so_two_sensors_in_phase_pick_the_same_instants() -> None:
    camera, lidar = RateWindows(10.0), RateWindows(10.0)
    camera_stamps = [k * 50 * MS for k in range(8)]  # 20 Hz camera
    lidar_stamps = [k * 100 * MS for k in range(4)]  # 10 Hz lidar
    assert [s for s in camera_stamps if camera.take(s)] == [s for s in lidar_stamps if lidar.take(s)]


@pytest.mark.parametrize(("rate_hz", "period_ns"), [(3.0, 333_333_333), (7.0, 142_857_143), (0.5, 2_000_000_000)])
def test_the_window_is_the_rounded_period(rate_hz: float, period_ns: int) -> None:
    windows = RateWindows(rate_hz)
    assert windows.period_ns == period_ns
    assert windows.take(period_ns - 1) and windows.take(period_ns)


def test_rate_zero_takes_everything_and_counts_nothing() -> None:
    windows = RateWindows(0.0)
    assert windows.period_ns == 0
    assert all(windows.take(stamp) for stamp in (5, 5, 6, 1))
    assert windows.limited == 0


def test_a_window_claimed_mid_way_refuses_the_rest_of_it() -> None:
    windows = RateWindows(10.0)
    assert windows.take(150_000_000)  # mid-window: the window is 100-200 ms, not "1.5"
    assert not windows.take(160_000_000) and not windows.open(199_999_999)
    assert windows.take(200_000_000)
