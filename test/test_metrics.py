"""Geometry, boxes and the evaluation metrics against cases worked out by hand: box corners and distances,
ADE/FDE, and the tracking scores (matching, precision/recall, MOTA, identity switches)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kvision_driving.core.geometry import (
    invert_transform,
    make_transform,
    planar_yaw,
    quaternion_yaws,
    transform_points,
    yaw_of,
)
from kvision_driving.eval.fusion import Found, Scores, _match, range_bin, summarise
from kvision_driving.perception.prediction import displacement_errors


def test_transforms_and_yaws_by_hand() -> None:
    turn = make_transform([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [1.0, 2.0, 0.0])  # 90 degrees left
    np.testing.assert_allclose(transform_points(turn, np.array([[1.0, 0.0, 0.0]])), [[1.0, 3.0, 0.0]])
    np.testing.assert_allclose(transform_points(invert_transform(turn), np.array([[1.0, 3.0, 0.0]])), [[1, 0, 0]])
    assert yaw_of(turn) == pytest.approx(np.pi / 2)
    half = np.sin(np.pi / 8), np.cos(np.pi / 8)  # 45 degrees about z
    np.testing.assert_allclose(quaternion_yaws([[0, 0, half[0], half[1]], [0, 0, 0, 1]]), [np.pi / 4, 0.0])
    assert planar_yaw(SimpleNamespace(z=half[0], w=half[1])) == pytest.approx(np.pi / 4)
    assert planar_yaw(SimpleNamespace(z=-np.sin(1.2), w=np.cos(1.2))) == pytest.approx(-2.4)  # turning right


def test_ade_and_fde_by_hand() -> None:
    steps = np.arange(1, 31)[:, None] * 0.1  # 3 s at 0.1 s
    truth = np.hstack([steps * 10.0, np.zeros_like(steps)])
    parallel = truth + np.array([0.0, 1.0])  # a metre to the side all the way
    errors = displacement_errors(parallel, truth)
    assert errors["ade_1s"] == pytest.approx(1.0) and errors["fde_3s"] == pytest.approx(1.0)
    drifting = truth + np.hstack([np.zeros_like(steps), steps])  # 0.1 m more each step
    errors = displacement_errors(drifting, truth)
    assert errors["fde_1s"] == pytest.approx(1.0) and errors["ade_1s"] == pytest.approx(0.55)  # mean of 0.1..1.0
    assert errors["fde_3s"] == pytest.approx(3.0) and errors["ade_3s"] == pytest.approx(1.55)
    # A path shorter than the horizon (a track that ends, a truth that ends) is scored as far as both go.
    for short in (displacement_errors(drifting[:10], truth), displacement_errors(drifting, truth[:10])):
        assert short["fde_3s"] == pytest.approx(1.0) and short["ade_3s"] == pytest.approx(0.55)


def reference(*objects: tuple[str, float, float, int]) -> SimpleNamespace:
    """Ground truth shaped as autoware TrackedObjects are read: kind, x, y, identity; facing +x, standing."""
    labels = {"car": 1, "truck": 2, "pedestrian": 7}

    def tracked(kind: str, x: float, y: float, identity: int) -> SimpleNamespace:
        pose = SimpleNamespace(position=SimpleNamespace(x=x, y=y, z=0.8), orientation=SimpleNamespace(z=0.0, w=1.0))
        twist = SimpleNamespace(linear=SimpleNamespace(x=0.0, y=0.0))
        return SimpleNamespace(
            classification=[SimpleNamespace(label=labels[kind])],
            kinematics=SimpleNamespace(
                pose_with_covariance=SimpleNamespace(pose=pose), twist_with_covariance=SimpleNamespace(twist=twist)
            ),
            object_id=SimpleNamespace(uuid=bytes([identity]) * 16),
            shape=SimpleNamespace(dimensions=SimpleNamespace(x=4.5, y=1.85, z=1.5)),
        )

    return SimpleNamespace(objects=[tracked(*item) for item in objects])


def test_matching_precision_recall_and_mota_by_hand() -> None:
    """Two frames, three ground-truth cars each; what is found, missed, invented and swapped is counted."""
    scores, last = Scores(), {}
    truth = reference(("car", 10.0, 0.0, 1), ("car", 20.0, 3.0, 2), ("car", 60.0, 0.0, 3))  # the third: out of range
    found = [
        Found(np.array([10.3, 0.0]), 0.0, "car", identity=b"a"),  # 0.3 m off: a match
        Found(np.array([20.0, 6.0]), 0.0, "car", identity=b"b"),  # 3 m off: beyond the 2 m gate, a false positive
        Found(np.array([15.0, -8.0]), 0.0, "pedestrian", identity=b"c"),  # on nothing: a false positive
    ]
    _match(scores, found, truth, lambda obj: True, np.eye(4), last)
    assert scores.ground_truth_count == 2  # car 3 is 60 m away
    assert sum(scores.true_positives.values()) == 1 and sum(scores.false_negatives.values()) == 1
    assert sum(scores.false_positives.values()) == 2
    # Next frame: car 1 is now found by another track (an identity switch), car 2 at last.
    found = [
        Found(np.array([10.0, 0.1]), 0.0, "car", identity=b"z"),
        Found(np.array([20.5, 3.0]), 0.0, "car", identity=b"b"),
    ]
    _match(scores, found, truth, lambda obj: True, np.eye(4), last)
    assert scores.id_switches == 1
    summary = summarise(scores)
    car = summary["by_class"]["car"]
    assert (car["true_positives"], car["false_positives"], car["false_negatives"]) == (3, 1, 1)
    assert car["precision"] == pytest.approx(3 / 4) and car["recall"] == pytest.approx(3 / 4)
    assert car["centre_error_median_m"] == pytest.approx(0.3)  # of 0.3, 0.1 and 0.5
    # MOTA = 1 - (misses + false alarms + identity switches) / ground truth = 1 - (1 + 2 + 1) / 4
    assert summary["mota"] == pytest.approx(0.0) and summary["ground_truth_objects"] == 4


def test_matching_in_the_ego_frame_with_ranges_gates_dont_care_and_errors_by_hand() -> None:
    """One frame seen from an ego at (100, 50) facing +y: ranges, bins, gates and errors are measured from it.

    Ego-relative positions (forward, left) -> map: (100 - left, 50 + forward).
    """
    ego = make_transform([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [100.0, 50.0, 0.0])
    truth = reference(
        ("car", 100.0, 62.0, 1),  # 12 m ahead: bin 0-15, found 0.5 m off
        ("pedestrian", 100.0, 70.0, 2),  # 20 m: bin 15-30, found 0.8 m off (gate 1 m)
        ("pedestrian", 100.0, 76.0, 3),  # 26 m: beyond the 25 m pedestrian range, not scored
        ("car", 100.0, 85.0, 4),  # 35 m: bin 30-45, missed
        ("car", 100.0, 55.0, 5),  # 5 m, but the scored() filter leaves it out (e.g. too few points)
    )
    car = truth.objects[0].kinematics
    car.pose_with_covariance.pose.orientation = SimpleNamespace(z=np.sin(0.05), w=np.cos(0.05))  # yaw 0.1
    car.twist_with_covariance.twist.linear = SimpleNamespace(x=3.0, y=4.0)  # 5 m/s
    found = [
        Found(np.array([100.0, 62.5]), 0.4, "car", speed=2.0),  # heading 0.3 off, speed 3 m/s off
        Found(np.array([100.0, 70.8]), np.pi - 0.1, "pedestrian"),  # boxes are symmetric: 0.1 off
        Found(np.array([100.0, 76.2]), 0.0, "pedestrian"),  # on the out-of-range pedestrian: neither
        Found(np.array([100.0, 55.5]), 0.0, "car"),  # on the unscored car ("don't care"): neither
        Found(np.array([110.0, 50.0]), 0.0, "car"),  # 10 m to the right, on nothing: a false positive
        Found(np.array([100.0, 92.0]), 0.0, "car"),  # 42 m: past the 40 m car range, on nothing: neither
    ]
    scores = Scores(frames=1)
    _match(scores, found, truth, lambda obj: obj.object_id.uuid[0] != 5, ego)
    assert scores.ground_truth_count == 3
    assert dict(scores.true_positives) == {("car", 0): 1, ("pedestrian", 1): 1}
    assert dict(scores.false_negatives) == {("car", 2): 1}
    assert dict(scores.false_positives) == {("car", 0): 1}
    assert scores.centre_errors["car"] == pytest.approx([0.5])
    assert scores.centre_errors["pedestrian"] == pytest.approx([0.8])
    assert scores.heading_errors["car"] == pytest.approx([0.3])
    assert scores.heading_errors["pedestrian"] == pytest.approx([0.1])
    assert scores.velocity_errors["car"] == pytest.approx([3.0])
    assert scores.velocity_errors["pedestrian"] == []  # no speed: a detection, not a track
    assert scores.id_switches == 0  # no identities kept: never a switch

    summary = summarise(scores)
    assert summary["frames"] == 1 and summary["ground_truth_objects"] == 3 and summary["id_switches"] == 0
    assert summary["mota"] == pytest.approx(1.0 - (1 + 1 + 0) / 3)
    car, pedestrian = summary["by_class"]["car"], summary["by_class"]["pedestrian"]
    assert (car["true_positives"], car["false_positives"], car["false_negatives"]) == (1, 1, 1)
    assert car["precision"] == pytest.approx(0.5) and car["recall"] == pytest.approx(0.5)
    assert car["by_range"] == {
        "0-15 m": {"precision": 0.5, "recall": 1.0, "ground_truth": 1},
        "30-45 m": {"precision": 0.0, "recall": 0.0, "ground_truth": 1},
    }
    assert car["centre_error_median_m"] == pytest.approx(0.5)
    assert car["heading_error_median_deg"] == pytest.approx(np.degrees(0.3))
    assert car["velocity_error_median_mps"] == pytest.approx(3.0)
    assert (pedestrian["precision"], pedestrian["recall"]) == (1.0, 1.0)
    assert pedestrian["by_range"] == {"15-30 m": {"precision": 1.0, "recall": 1.0, "ground_truth": 1}}
    assert pedestrian["heading_error_median_deg"] == pytest.approx(np.degrees(0.1))
    assert np.isnan(pedestrian["velocity_error_median_mps"])  # no speeds: detections, not tracks
    assert set(summary["by_class"]) == {"car", "pedestrian"}


def test_identity_switches_count_changes_of_the_track_on_one_object_only() -> None:
    truth = reference(("car", 10.0, 0.0, 1), ("car", 20.0, 0.0, 2))
    last: dict[bytes, bytes] = {}
    scores = Scores()
    for identities in ((b"a", b"b"), (b"c", b"b"), (b"c", b"b"), (b"c", None), (b"a", b"b")):
        found = [Found(np.array([10.0, 0.0]), 0.0, "car", identity=identities[0])]
        found.append(Found(np.array([20.0, 0.0]), 0.0, "car", identity=identities[1]))
        _match(scores, found, truth, lambda obj: True, np.eye(4), last)
    # a -> c (one), c stays (none), an anonymous detection (neither a switch nor remembered), c -> a (one)
    assert scores.id_switches == 2
    assert last == {bytes([1]) * 16: b"a", bytes([2]) * 16: b"b"}
    assert summarise(scores)["mota"] == pytest.approx(1.0 - 2 / 10)


def test_range_bins_by_hand() -> None:
    assert [range_bin(d) for d in (0.0, 14.99, 15.0, 29.99, 30.0, 44.99, 45.0, 80.0)] == [0, 0, 1, 1, 2, 2, 2, 2]


def test_matching_at_the_exact_limits_and_with_detections_without_identities() -> None:
    """Ego at the origin facing +x; limits are inclusive: 40 m for cars, a 1 m gate for pedestrians."""
    truth = reference(
        ("car", 0.0, 40.0, 1),  # exactly at the car range: scored, missed
        ("car", 35.0, 5.0, 2),  # 35.4 m: missed
        ("car", 38.0, 0.0, 3),  # found from 39.5 m, inside the 3 m margin past nothing
        ("pedestrian", 10.0, 0.0, 4),
    )
    for obj in truth.objects:
        del obj.object_id  # detections (autoware DetectedObjects) have no identity
    found = [
        Found(np.array([0.0, -40.0]), 0.0, "car"),  # exactly 40 m, on nothing: a false positive
        Found(np.array([-40.0, 0.0]), 0.0, "car"),  # and another in the same bin
        Found(np.array([39.5, 0.0]), 0.0, "car"),
        Found(np.array([11.0, 0.0]), 0.0, "pedestrian"),  # exactly 1 m off: a match
        Found(np.array([10.0, 1.5]), 0.0, "pedestrian"),  # 1.5 m from the pedestrian: beyond its gate, counted
    ]
    scores = Scores()
    _match(scores, found, truth, lambda obj: True, np.eye(4), {})
    assert scores.ground_truth_count == 4
    assert dict(scores.true_positives) == {("car", 2): 1, ("pedestrian", 0): 1}
    assert dict(scores.false_negatives) == {("car", 2): 2}
    assert dict(scores.false_positives) == {("car", 2): 2, ("pedestrian", 0): 1}
    assert scores.id_switches == 0


def test_summary_of_a_half_found_bin_and_of_a_single_object() -> None:
    scores = Scores(ground_truth_count=2)
    scores.true_positives[("car", 0)] = 1
    scores.false_negatives[("car", 0)] = 1
    assert summarise(scores)["by_class"]["car"]["by_range"] == {
        "0-15 m": {"precision": 1.0, "recall": 0.5, "ground_truth": 2}
    }
    single = Scores(ground_truth_count=1)
    single.true_positives[("car", 0)] = 1
    single.false_positives[("car", 1)] = 1
    assert summarise(single)["mota"] == pytest.approx(0.0)  # 1 - (0 misses + 1 false alarm) / 1 object


def test_a_truck_found_at_the_edge_of_the_margin_still_matches() -> None:
    """Found things are kept to their range limit plus 3 m (inclusive), the largest match gate: a truck at
    40 m seen 3 m farther is a match."""
    scores = Scores()
    _match(scores, [Found(np.array([43.0, 0.0]), 0.0, "truck")], reference(("truck", 40.0, 0.0, 1)), bool, np.eye(4))
    assert dict(scores.true_positives) == {("truck", 2): 1} and not scores.false_negatives


def test_ranges_are_measured_on_the_ground_plane_whatever_egos_height() -> None:
    ego = np.eye(4)
    ego[2, 3] = 5.0  # ego's base 5 m up in the map frame (a map whose origin lies below the road)
    scores = Scores()
    _match(scores, [], reference(("car", 39.8, 0.0, 1)), bool, ego)
    assert scores.ground_truth_count == 1 and dict(scores.false_negatives) == {("car", 2): 1}


def test_found_exactly_at_the_gate_of_an_unscored_object_is_dont_care() -> None:
    """Not a false positive: a car found 2.0 m (the car gate, inclusive) from a real car the scoring leaves out."""
    scores = Scores()
    truth = reference(("car", 10.0, 0.0, 1))
    _match(scores, [Found(np.array([12.0, 0.0]), 0.0, "car")], truth, lambda obj: False, np.eye(4))
    assert scores.ground_truth_count == 0 and not scores.false_positives
