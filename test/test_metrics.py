"""Geometry, boxes and the evaluation metrics against cases worked out by hand: box corners and distances,
ADE/FDE, and the tracking scores (matching, precision/recall, MOTA, identity switches)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kvision_driving.core.boxes import box_corners, box_corners_3d, box_distance, boxes_overlap
from kvision_driving.core.geometry import invert_transform, make_transform, quaternion_yaws, transform_points, yaw_of
from kvision_driving.eval.fusion import Found, Scores, _match, summarise
from kvision_driving.perception.prediction import displacement_errors


def test_box_corners_by_hand() -> None:
    # A 4 x 2 box at (1, 2) facing +y: its front-left corner is at (1 - 1, 2 + 2).
    np.testing.assert_allclose(box_corners(1.0, 2.0, np.pi / 2, 4.0, 2.0), [[0, 4], [0, 0], [2, 0], [2, 4]], atol=1e-12)
    corners = box_corners_3d(np.array([0.0, 0.0, 1.0]), 0.0, (4.0, 2.0, 1.5))
    assert corners[:4, 2].tolist() == [0.25] * 4 and corners[4:, 2].tolist() == [1.75] * 4
    np.testing.assert_allclose(corners[0, :2], [2.0, 1.0])


def test_box_overlap_and_distance_by_hand() -> None:
    unit = box_corners(0.0, 0.0, 0.0, 2.0, 2.0)  # x, y in [-1, 1]
    assert box_distance(unit, box_corners(5.0, 0.0, 0.0, 2.0, 2.0)) == pytest.approx(3.0)
    assert box_distance(unit, box_corners(3.0, 3.0, 0.0, 2.0, 2.0)) == pytest.approx(np.sqrt(2.0))  # corner to corner
    diamond = box_corners(2.0 + np.sqrt(2.0) / 2, 0.0, np.pi / 4, 1.0, 1.0)  # its left tip at x = 2
    assert box_distance(unit, diamond) == pytest.approx(1.0) and not boxes_overlap(unit, diamond)
    touching = box_corners(1.5, 0.0, np.pi / 4, 1.0, 1.0)  # its left tip 0.21 m inside
    assert boxes_overlap(unit, touching) and box_distance(unit, touching) == 0.0
    # Separated only along a rotated box's own axis (the axis-aligned extents overlap).
    tilted = box_corners(2.2, 2.2, -np.pi / 4, 3.0, 0.4)  # its extents reach x, y = 0.998
    assert tilted[:, 0].min() < 1.0 and tilted[:, 1].min() < 1.0 and not boxes_overlap(unit, tilted)
    # From the square's corner (1, 1) to the near long side, x + y = 4.4 - 0.2 * sqrt(2):
    assert box_distance(unit, tilted) == pytest.approx((4.4 - 0.2 * np.sqrt(2) - 2.0) / np.sqrt(2))


def test_transforms_and_yaws_by_hand() -> None:
    turn = make_transform([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [1.0, 2.0, 0.0])  # 90 degrees left
    np.testing.assert_allclose(transform_points(turn, np.array([[1.0, 0.0, 0.0]])), [[1.0, 3.0, 0.0]])
    np.testing.assert_allclose(transform_points(invert_transform(turn), np.array([[1.0, 3.0, 0.0]])), [[1, 0, 0]])
    assert yaw_of(turn) == pytest.approx(np.pi / 2)
    half = np.sin(np.pi / 8), np.cos(np.pi / 8)  # 45 degrees about z
    np.testing.assert_allclose(quaternion_yaws([[0, 0, half[0], half[1]], [0, 0, 0, 1]]), [np.pi / 4, 0.0])


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


def reference(*objects: tuple[str, float, float, int]) -> SimpleNamespace:
    """Ground truth shaped as autoware TrackedObjects are read: kind, x, y, identity; facing +x, standing."""
    labels = {"car": 1, "pedestrian": 7}

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
