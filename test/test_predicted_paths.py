"""Predicted paths on the wire follow Autoware's convention: the first pose is the object now, pose i is
i * time_step later. What the simulator and action_node publish and what planning and the evaluations
read agree on it (they once disagreed by a step: planning saw every object 0.1 s ahead of itself)."""

from __future__ import annotations

import numpy as np

from kvision_driving.eval.paths import path_times_s, path_xy_at
from kvision_driving.perception.prediction import MotionState, future_times, predict
from kvision_driving.perception.tracking import Track
from kvision_driving.ros.action_messages import MESSAGE_STEP_S, predicted_objects
from kvision_driving.ros.convert import make_header
from kvision_driving.ros.object_messages import tracked_objects
from kvision_driving.ros.planning_messages import road_users
from kvision_driving.ros.sim_messages import SimMessages
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import DT, Simulator


def test_ground_truth_paths_start_now_and_are_the_actors_future() -> None:
    simulator = Simulator(load_scenario("cut_in"))
    step = 10
    objects = simulator.ground_truth(step)
    message = SimMessages(simulator).predicted_objects(objects, make_header(simulator.stamp_ns, "map"))
    actors = {actor.actor_id: actor for actor in simulator.actors}
    assert objects and len(message.objects) == len(objects)
    times = np.array([0.0, 0.1, 1.0, 3.0])
    for obj, predicted in zip(objects, message.objects, strict=True):
        (path,) = predicted.kinematics.predicted_paths
        assert path_times_s(path)[-1] == 3.0 and len(path.path) == 31
        actor = actors[obj.actor_id]
        expected = actor.xy[step + np.round(times / DT).astype(int)]
        np.testing.assert_allclose(path_xy_at(path, times), expected, atol=1e-9)


def test_action_node_paths_start_at_the_track_and_planning_reads_them_back_in_time() -> None:
    track = Track(
        track_id=bytes(range(16)), kind="car", state=np.array([10.0, 2.0, 8.0, 0.0]), covariance=np.eye(4),
        yaw=0.0, size=(4.5, 1.8, 1.5), z=0.75, confidence=0.9,
    )  # fmt: skip
    tracked = tracked_objects([track], make_header(5_000_000_000, "map"))
    history = np.array([[-0.2, 8.4, 2.0], [-0.1, 9.2, 2.0], [0.0, 10.0, 2.0]])
    state = MotionState(track.state[:2], track.state[2:], track.yaw, "car", history)
    hypotheses = predict(state, "signal_left", 0.9, np.zeros(2), 0.0)  # a lane change: curved, two paths
    assert len(hypotheses) == 2
    message = predicted_objects(tracked, {track.track_id.hex(): hypotheses}, tracked.header)
    paths = message.objects[0].kinematics.predicted_paths
    for path, hypothesis in zip(paths, hypotheses, strict=True):
        assert np.isclose(path_times_s(path)[1], MESSAGE_STEP_S) and np.isclose(path_times_s(path)[-1], 3.0)
        np.testing.assert_allclose(path_xy_at(path, np.zeros(1))[0], [10.0, 2.0])  # the object now
        # Between the coarser message's poses the path is interpolated: within centimetres of the prediction.
        assert np.abs(path_xy_at(path, future_times()) - hypothesis.xy).max() < 0.05
    (user,) = road_users(message, {})
    times = np.concatenate([[0.0], future_times()])
    for (confidence, xy, _), hypothesis in zip(user.positions(times, 0.0), hypotheses, strict=True):
        assert np.isclose(confidence, hypothesis.confidence)
        np.testing.assert_allclose(xy[0], [10.0, 2.0])
        assert np.abs(xy[1:] - hypothesis.xy).max() < 0.05
