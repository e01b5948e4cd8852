"""perception/tracking.py on its own: the gate, kinds kept apart, confirmation, deletion, identities through a
crossing, velocity estimates, and the reset when time goes back."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.perception.objects import Detection
from kvision_driving.perception.tracking import MAX_GATE_M, MultiObjectTracker

STEP_NS = 100_000_000  # 10 Hz sweeps


def seen(kind: str, x: float, y: float) -> Detection:
    return Detection(kind, 0.9, np.array([x, y, 0.8]), 0.0, (4.5, 1.85, 1.5), 50)


def run(tracker: MultiObjectTracker, frames: list[list[Detection]], start: int = 0) -> list[list]:
    return [tracker.update(detections, (start + index) * STEP_NS) for index, detections in enumerate(frames)]


def test_a_track_is_confirmed_after_its_hits_and_deleted_after_its_misses() -> None:
    tracker = MultiObjectTracker(confirm_hits=3, max_misses=2, seed=0)
    out = run(tracker, [[seen("car", 10.0 + 0.5 * k, 0.0)] for k in range(3)])
    assert [len(confirmed) for confirmed in out] == [0, 0, 1]  # tentative, tentative, confirmed
    identity = out[-1][0].track_id
    coasting = run(tracker, [[], []], start=3)
    assert [len(c) for c in coasting] == [1, 1] and coasting[-1][0].track_id == identity  # two misses: kept
    assert run(tracker, [[]], start=5) == [[]] and tracker.tracks == []  # the third: gone
    # A tentative track is dropped after a second miss, not max_misses.
    tracker = MultiObjectTracker(confirm_hits=3, max_misses=5, seed=0)
    run(tracker, [[seen("car", 0.0, 0.0)], [], []])
    assert tracker.tracks == []


def test_the_gate_starts_a_new_track_for_a_jump_no_object_can_make() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    (first,) = tracker.update([seen("car", 10.0, 0.0)], 0)
    (near,) = tracker.update([seen("car", 10.6, 0.0)], STEP_NS)
    assert near.track_id == first.track_id
    far = tracker.update([seen("car", 10.6 + MAX_GATE_M + 2.0, 0.0)], 2 * STEP_NS)
    assert first.track_id not in {t.track_id for t in far if np.hypot(*(t.state[:2] - [16.6, 0])) < 0.5}
    assert len(tracker.tracks) == 2  # the jump is a new track; the old one coasts


def test_kinds_are_never_associated_with_each_other() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    (car,) = tracker.update([seen("car", 10.0, 0.0)], 0)
    out = tracker.update([seen("pedestrian", 10.1, 0.0)], STEP_NS)
    (walker,) = [t for t in out if t.kind == "pedestrian"]
    assert walker.track_id != car.track_id and len(tracker.tracks) == 2


def test_identities_hold_through_a_crossing_and_velocities_are_learnt() -> None:
    """Two cars 3 m apart in y pass each other in x at 10 m/s each way: constant-velocity prediction keeps
    them apart where the nearest-neighbour choice would swap them at the crossing."""
    tracker = MultiObjectTracker(confirm_hits=3, seed=0)
    frames = [[seen("car", 5.0 + 1.0 * k, 1.0), seen("car", 35.0 - 1.0 * k, -1.0)] for k in range(31)]
    out = run(tracker, frames)
    first = {round(float(t.state[1])): t.track_id for t in out[5]}
    last = {round(float(t.state[1])): t.track_id for t in out[-1]}
    assert first == last and len(set(last.values())) == 2
    speeds = sorted(round(float(t.state[2]), 1) for t in out[-1])
    assert speeds == pytest.approx([-10.0, 10.0], abs=0.3)


def test_time_going_back_starts_over_and_identities_are_reproducible() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=7)
    (before,) = tracker.update([seen("car", 0.0, 0.0)], 10 * STEP_NS)
    tracker.update([seen("car", 1.0, 0.0)], 5 * STEP_NS)  # a bag loop
    assert tracker.resets == 1 and len(tracker.tracks) == 1 and tracker.tracks[0].track_id != before.track_id
    again = MultiObjectTracker(confirm_hits=1, seed=7)
    assert again.update([seen("car", 0.0, 0.0)], 0)[0].track_id == before.track_id
