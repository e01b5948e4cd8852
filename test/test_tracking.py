"""perception/tracking.py on its own: the gate, kinds kept apart, confirmation, deletion, identities through a
crossing, velocity estimates, and the reset when time goes back."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.perception.objects import Detection
from kvision_driving.perception.tracking import MAX_GATE_M, MultiObjectTracker, Track

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


def make_track(kind: str, state: list[float], covariance: np.ndarray, yaw: float = 0.0) -> Track:
    return Track(b"\x01" * 16, kind, np.array(state, float), covariance.astype(float), yaw, (4.0, 2.0, 1.5), 0.5, 0.6)


def test_prediction_is_the_constant_velocity_kalman_step_by_hand() -> None:
    dt, q = 0.5, 4.0  # a car's acceleration noise (NOISE["car"][0])
    track = make_track("car", [1.0, 2.0, 3.0, 4.0], np.diag([1.0, 2.0, 3.0, 4.0]))
    MultiObjectTracker._predict(track, dt)
    np.testing.assert_allclose(track.state, [1.0 + 3.0 * dt, 2.0 + 4.0 * dt, 3.0, 4.0])
    p = track.covariance
    # F P F^T + Q, Q per axis = q [[dt^4/4, dt^3/2], [dt^3/2, dt^2]] (white-noise acceleration), x: (0, 2), y: (1, 3)
    assert p[0, 0] == pytest.approx(1.0 + 3.0 * dt**2 + q * dt**4 / 4)
    assert p[0, 2] == pytest.approx(3.0 * dt + q * dt**3 / 2) and p[2, 0] == pytest.approx(p[0, 2])
    assert p[2, 2] == pytest.approx(3.0 + q * dt**2)
    assert p[1, 1] == pytest.approx(2.0 + 4.0 * dt**2 + q * dt**4 / 4)
    assert p[1, 3] == pytest.approx(4.0 * dt + q * dt**3 / 2) and p[3, 3] == pytest.approx(4.0 + q * dt**2)
    assert p[0, 1] == p[0, 3] == p[1, 2] == p[2, 3] == 0.0 and track.age == 2
    unknown = make_track("animal", [0.0, 0.0, 0.0, 0.0], np.eye(4))  # a kind without its own noise: q = 3
    MultiObjectTracker._predict(unknown, 1.0)
    assert unknown.covariance[2, 2] == pytest.approx(1.0 + 3.0) and unknown.covariance[0, 0] == pytest.approx(2 + 0.75)
    still = make_track("car", [1.0, 2.0, 3.0, 4.0], np.eye(4))
    MultiObjectTracker._predict(still, 0.0)  # the same stamp again: nothing moves, nothing grows
    np.testing.assert_array_equal(still.state, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(still.covariance, np.eye(4))
    assert still.age == 1


def test_correction_is_the_kalman_update_and_blends_the_box_by_hand() -> None:
    r = 0.25  # a car's position noise (NOISE["car"][1])
    covariance = np.array([[1, 0, 0.5, 0], [0, 1, 0, 0.5], [0.5, 0, 4, 0], [0, 0.5, 0, 4]], float)
    track = make_track("car", [0.0, 0.0, 2.0, 0.0], covariance)
    tracker = MultiObjectTracker()
    residual, innovation = tracker._innovation(track, seen("car", 1.0, 0.5))
    np.testing.assert_allclose(residual, [1.0, 0.5])
    np.testing.assert_allclose(innovation, np.eye(2) * (1.0 + r**2))
    detection = Detection("car", 0.9, np.array([1.0, 0.5, 1.0]), np.pi, (5.0, 2.5, 2.0), 50)
    tracker._correct(track, detection, 123)
    s = 1.0 + r**2  # gain: position 1/s, velocity 0.5/s of the residual
    np.testing.assert_allclose(track.state, [1.0 / s, 0.5 / s, 2.0 + 0.5 / s, 0.25 / s])
    assert track.covariance[0, 0] == pytest.approx(1.0 - 1.0 / s)
    assert track.covariance[0, 2] == pytest.approx(0.5 - 0.5 / s)
    assert track.covariance[2, 2] == pytest.approx(4.0 - 0.25 / s)
    assert track.yaw == pytest.approx(np.arctan2(0.25 / s, 2.0 + 0.5 / s))  # moving: heading of the motion
    np.testing.assert_allclose(track.size, [0.7 * 4.0 + 0.3 * 5.0, 0.7 * 2.0 + 0.3 * 2.5, 1.5 * 0.7 + 0.3 * 2.0])
    assert track.z == pytest.approx(0.7 * 0.5 + 0.3 * 1.0) and track.confidence == pytest.approx(0.7 * 0.6 + 0.3 * 0.9)
    assert (track.hits, track.misses) == (2, 0) and track.history[-1] == (123, track.state[0], track.state[1])

    slow = make_track("car", [0.0, 0.0, 0.0, 0.0], np.eye(4), yaw=0.1)
    tracker._correct(slow, Detection("car", 0.9, np.array([0.0, 0.0, 0.8]), np.pi + 0.2, (4.0, 2.0, 1.5), 50), 1)
    # Standing: the box's heading, turned by pi to the one nearer the track's (a box has two).
    assert np.angle(np.exp(1j * (slow.yaw - 0.2))) == pytest.approx(0.0, abs=1e-9)


def test_a_track_is_born_where_it_was_seen_standing_with_its_position_noise_by_hand() -> None:
    import uuid

    tracker = MultiObjectTracker(seed=0)
    born = tracker._birth(Detection("car", 0.9, np.array([4.0, -2.0, 0.8]), 0.3, (4.5, 1.85, 1.5), 50), 77)
    np.testing.assert_array_equal(born.state, [4.0, -2.0, 0.0, 0.0])  # velocity unknown: zero, +-5 m/s
    np.testing.assert_allclose(born.covariance, np.diag([0.25**2, 0.25**2, 25.0, 25.0]))  # NOISE["car"][1]
    assert uuid.UUID(bytes=born.track_id).version == 4 and born.history == [(77, 4.0, -2.0)]
    assert (born.kind, born.yaw, born.z, born.hits, born.misses) == ("car", 0.3, 0.8, 1, 0)
    other = tracker._birth(Detection("animal", 0.9, np.array([0.0, 0.0, 0.5]), 0.0, (1.0, 1.0, 1.0), 10), 78)
    np.testing.assert_allclose(np.diag(other.covariance)[:2], [0.3**2, 0.3**2])  # a kind without its own noise
    assert other.track_id != born.track_id


def box(kind: str, x: float, y: float, yaw: float = 0.0, z: float = 0.8) -> Detection:
    return Detection(kind, 0.9, np.array([x, y, z]), yaw, (4.5, 1.85, 1.5), 50)


def test_defaults_confirm_on_the_third_hit_keep_five_misses_and_fifty_positions() -> None:
    tracker = MultiObjectTracker(seed=0)
    assert [len(c) for c in run(tracker, [[seen("car", 0.2 * k, 0.0)] for k in range(3)])] == [0, 0, 1]
    assert [len(c) for c in run(tracker, [[]] * 6, start=3)] == [1, 1, 1, 1, 1, 0]  # the sixth miss ends it
    tracker = MultiObjectTracker(seed=0)
    run(tracker, [[seen("car", 0.1 * k, 0.0)] for k in range(60)])
    (track,) = tracker.tracks
    assert len(track.history) == 50 and track.history[0][0] == 10 * STEP_NS


def test_history_stamps_are_the_sweeps_stamps() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    run(tracker, [[seen("car", 0.0, 0.0)], [seen("car", 0.1, 0.0)]], start=7)
    assert [stamp for stamp, _, _ in tracker.tracks[0].history] == [7 * STEP_NS, 8 * STEP_NS]


def test_a_repeated_stamp_is_no_reset_and_each_reset_is_counted() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([seen("car", 0.0, 0.0)], 5 * STEP_NS)
    tracker.update([seen("car", 0.0, 0.0)], 5 * STEP_NS)
    assert tracker.resets == 0 and len(tracker.tracks) == 1
    tracker.update([], 4 * STEP_NS)
    tracker.update([], 3 * STEP_NS)
    assert tracker.resets == 2


def test_an_unknown_kind_gets_the_default_noise_by_hand() -> None:
    """Kinds outside the table (a trailer): process noise 3 m2/s3, measurement noise 0.3 m."""
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([box("trailer", 0.0, 0.0)], 0)
    (track,) = tracker.tracks
    assert np.diag(track.covariance) == pytest.approx([0.09, 0.09, 25.0, 25.0])
    tracker.update([box("trailer", 0.5, 0.0)], 1_000_000_000)
    # Predicted over 1 s: P_xx = 0.09 + 25 + 3 / 4 = 25.84; gain on x = 25.84 / (25.84 + 0.09).
    assert tracker.tracks[0].state[0] == pytest.approx(0.5 * 25.84 / 25.93)


def test_the_gate_needs_both_the_statistics_and_the_distance() -> None:
    # One second after birth the velocity is unknown (+-5 m/s), so 5 m is statistically likely (d2 = 0.96) but
    # farther than MAX_GATE_M; exactly 4 m is within it.
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([box("car", 0.0, 0.0)], 0)
    tracker.update([box("car", 5.0, 0.0)], 1_000_000_000)
    assert len(tracker.tracks) == 2  # a new track, the old one coasting
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([box("car", 0.0, 0.0)], 0)
    identity = tracker.tracks[0].track_id
    tracker.update([box("car", MAX_GATE_M, 0.0)], 1_000_000_000)
    assert len(tracker.tracks) == 1 and tracker.tracks[0].track_id == identity


def test_a_detection_of_another_kind_does_not_hide_the_next_one() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([box("car", 0.0, 0.0)], 0)
    identity = tracker.tracks[0].track_id
    tracker.update([box("pedestrian", 30.0, 0.0), box("car", 0.3, 0.0)], STEP_NS)
    car = next(track for track in tracker.tracks if track.kind == "car")
    assert len(tracker.tracks) == 2 and car.track_id == identity


@pytest.mark.parametrize(
    ("seen_yaw", "expected"),
    [
        (1.1 + np.pi, 1.1),  # a box seen back to front: the nearer heading
        (1.0 + 1.2, 2.2),  # turned 1.2 rad (less than a right angle): taken as it is
    ],
)
def test_a_standing_tracks_heading_is_its_boxs_nearer_one(seen_yaw: float, expected: float) -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    tracker.update([box("car", 0.0, 0.0, yaw=1.0)], 0)
    tracker.update([box("car", 0.0, 0.0, yaw=seen_yaw)], STEP_NS)
    yaw = tracker.tracks[0].yaw
    assert (np.cos(yaw), np.sin(yaw)) == pytest.approx((np.cos(expected), np.sin(expected)))


def test_a_track_moving_faster_than_a_metre_a_second_heads_where_it_moves() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    run(tracker, [[box("car", 0.15 * k, 0.0, yaw=0.6)] for k in range(15)])  # 1.5 m/s along x, box turned
    (track,) = tracker.tracks
    assert 1.0 < track.speed < 2.0 and abs(track.yaw) < 0.05


def test_height_is_smoothed_towards_what_is_seen() -> None:
    tracker = MultiObjectTracker(confirm_hits=1, seed=0)
    run(tracker, [[box("car", 0.0, 0.0, z=2.0)]] * 2)
    assert tracker.tracks[0].z == pytest.approx(2.0)
