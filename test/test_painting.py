"""perception/painting.py: a sweep painted from a camera frame taken 50 ms earlier, ego turning and speeding up.
The simulator renders the sweep a step after the frame (``lidar_offset_steps``) and knows every point's class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.perception.painting import UNKNOWN, camera_view, paint
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import Simulator

ROAD_USERS = [TRAIN_ID[name] for name in ("person", "rider", "car", "truck", "bus", "motorcycle", "bicycle")]


def painted_correctly(compensate: bool, pairs: int = 10) -> tuple[float, int]:
    """Share of the road users' lidar points the camera sees that are painted with their own class."""
    simulator = Simulator(replace(load_scenario("dense_traffic"), seed=5), lidar_offset_steps=1)
    extrinsics = simulator.sensor_extrinsics()
    (spec,) = simulator.camera_specs
    right = total = 0
    for _ in range(20):  # 1 s of ordinary driving first
        simulator.advance(*simulator.autopilot_command())
    for _ in range(pairs):
        image, at_camera = simulator.render(), simulator.ego_pose()
        assert image.lidar is None  # the sweep comes 50 ms after the frame
        simulator.advance(2.0, 0.06)  # speeding up in a left turn
        sweep, at_lidar = simulator.render(), simulator.ego_pose()
        simulator.advance(2.0, 0.06)
        points = np.stack([sweep.lidar[axis] for axis in "xyz"], axis=1).astype(np.float64)
        view = camera_view(
            spec.intrinsics(),
            image.cameras[spec.name].labels,
            None,
            optical_in_base=extrinsics[spec.frame_id],
            lidar_in_base=extrinsics[simulator.lidar_spec.frame_id],
            base_at_lidar=at_lidar if compensate else None,
            base_at_camera=at_camera if compensate else None,
        )
        labels, _ = paint(points, [view])
        truth = sweep.lidar["label"]
        scored = (labels != UNKNOWN) & np.isin(truth, ROAD_USERS)
        right += int(np.count_nonzero(labels[scored] == truth[scored]))
        total += int(np.count_nonzero(scored))
    return right / max(total, 1), total


def test_ego_motion_compensation_paints_a_turning_accelerating_ego_right() -> None:
    compensated, points = painted_correctly(compensate=True)
    as_is, _ = painted_correctly(compensate=False)
    assert points > 2000  # road users' points the camera saw
    assert compensated >= 0.9 and compensated >= as_is + 0.03, (compensated, as_is)


def test_painting_by_hand_occlusion_blocks_and_the_most_confident_camera() -> None:
    """A 60x40 camera (f 50 px) looking along the points' z: who is hidden, which camera's label wins."""
    from kvision_driving.core.camera import PinholeCamera
    from kvision_driving.perception.painting import CameraView

    camera = PinholeCamera(60, 40, np.array([[50.0, 0, 30], [0, 50.0, 20], [0, 0, 1]]))
    points = np.array(
        [
            [0.0, 0.0, 10.0],  # A: pixel (30, 20)
            [0.01, 0.0, 12.0],  # B: A's block, 2 m behind it: hidden (slack 5 % + 0.4 m)
            [0.02, 0.0, 10.8],  # C: A's block, within the slack: seen
            [-3.0, 0.0, 10.0],  # D: pixel (15, 20), its own block
            [2.7, -1.7, 5.0],  # E: pixel (57, 3), block 9 of the first row of blocks
            [-10.8, -4.4, 20.0],  # F: pixel (3, 9), first block of the second row: not behind E
        ]
    )
    car, road, building, pole = TRAIN_ID["car"], TRAIN_ID["road"], TRAIN_ID["building"], TRAIN_ID["pole"]
    labels = np.full((40, 60), car, np.uint8)
    labels[:, :20] = road
    first = CameraView(camera, labels, np.full((40, 60), 0.8, np.float32), np.eye(4))
    confidence = np.full((40, 60), 0.6, np.float32)
    confidence[:, :20] = 0.9
    second = CameraView(camera, np.full((40, 60), building, np.uint8), confidence, np.eye(4))
    tie = CameraView(camera, np.full((40, 60), pole, np.uint8), np.full((40, 60), 0.8, np.float32), np.eye(4))
    painted, certainty = paint(points, [first, second, tie])
    assert painted.dtype == np.uint8 and certainty.dtype == np.float32
    # A, C: the first camera's car (0.8 beats 0.6; an equal 0.8 does not take over); B hidden; D: the second
    # camera's building (0.9 beats the first's road at 0.8); E and F (also the second's): each seen in its block.
    assert painted.tolist() == [car, UNKNOWN, car, building, car, building]
    np.testing.assert_allclose(certainty, [0.8, 0.0, 0.8, 0.9, 0.8, 0.9])
    # No confidence image: every labelled pixel counts as certain.
    alone, sure = paint(points[:1], [CameraView(camera, labels, None, np.eye(4))])
    assert alone.tolist() == [car] and sure.tolist() == [1.0]
    with pytest.raises(ValueError, match="label image 60x39 does not match camera info 60x40"):
        paint(points, [CameraView(camera, labels[:39], None, np.eye(4))])


def test_occlusion_blocks_of_different_rows_never_share_a_nearest_depth() -> None:
    """Block (row 0, column 1) and block (row 1, column 0) of a 60-pixel-wide image are different blocks: the
    near point of one does not hide the far point of the other; no points, no blocks."""
    from kvision_driving.perception.painting import OCCLUSION_MARGIN, _nearest_in_block

    u, v = np.array([6, 0]), np.array([0, 6])
    assert _nearest_in_block(u, v, np.array([10.0, 5.0]), 60).tolist() == [True, True]
    # In one block: exactly at the slack's edge is still seen, just beyond it is hidden.
    edge = 5.0 * (1.0 + OCCLUSION_MARGIN[0]) + OCCLUSION_MARGIN[1]
    same = _nearest_in_block(np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([5.0, edge, edge + 1e-9]), 60)
    assert same.tolist() == [True, True, False]
    empty = np.array([], dtype=np.intp)
    assert _nearest_in_block(empty, empty, np.array([]), 60).tolist() == []


def test_a_camera_view_without_both_poses_is_not_compensated_and_keeps_its_confidence() -> None:
    from kvision_driving.core.camera import PinholeCamera

    camera = PinholeCamera(60, 40, np.array([[50.0, 0, 30], [0, 50.0, 20], [0, 0, 1]]))
    labels, confidence = np.zeros((40, 60), np.uint8), np.full((40, 60), 0.7, np.float32)
    moved = np.eye(4)
    moved[0, 3] = 2.0
    as_is = camera_view(camera, labels, confidence, optical_in_base=np.eye(4), lidar_in_base=np.eye(4))
    for poses in ({"base_at_lidar": moved}, {"base_at_camera": moved}):
        view = camera_view(camera, labels, confidence, optical_in_base=np.eye(4), lidar_in_base=np.eye(4), **poses)
        assert np.array_equal(view.lidar_to_optical, as_is.lidar_to_optical)
    assert as_is.confidence is confidence
