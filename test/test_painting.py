"""perception/painting.py: a sweep painted from a camera frame taken 50 ms earlier, ego turning and speeding up.
The simulator renders the sweep a step after the frame (``lidar_offset_steps``) and knows every point's class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

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
