"""The simulator: determinism, label consistency between sensors, behaviours, ego model, scoring, exports."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from kvision_driving.core.actions import ACTION_ID, ACTIONS
from kvision_driving.core.geometry import invert_transform, transform_points
from kvision_driving.core.labels import LABEL_ID_TO_TRAIN_ID, TRAIN_ID
from kvision_driving.core.vehicle import WHEELBASE, EgoState
from kvision_driving.sim.actors import DT
from kvision_driving.sim.ego import Trajectory, follow_trajectory, step_bicycle
from kvision_driving.sim.scenario import ScenarioError, load_scenario, parse_scenario, scenario_names
from kvision_driving.sim.sensors import CAMERA_RIGS
from kvision_driving.sim.simulator import Simulator

BIN = Path(sys.executable).parent


def test_at_least_eight_scenarios_load() -> None:
    names = scenario_names()
    assert len(names) >= 8
    required = {
        "lead_vehicle_braking",
        "cut_in",
        "pedestrian_crossing",
        "pedestrian_between_parked_cars",
        "intersection_turn",
        "hazard_blocked_lane",
        "dense_traffic",
        "curved_road",
    }
    assert required <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.description and scenario.duration > 0


def test_same_seed_gives_byte_identical_sensors() -> None:
    frames = []
    for _ in range(2):
        simulator = Simulator(load_scenario("pedestrian_crossing"))
        for _ in range(6):
            simulator.advance(*simulator.autopilot_command())
        frames.append(simulator.render())
    first, second = frames
    assert first.lidar is not None
    assert first.lidar.tobytes() == second.lidar.tobytes()
    assert first.cameras["front"].labels.tobytes() == second.cameras["front"].labels.tobytes()
    assert first.cameras["front"].rgb.tobytes() == second.cameras["front"].rgb.tobytes()
    other = Simulator(load_scenario("pedestrian_crossing").with_seed(5)).render()
    assert other.cameras["front"].rgb.tobytes() != first.cameras["front"].rgb.tobytes()


@pytest.mark.parametrize("scenario", ["lead_vehicle_braking", "intersection_turn", "pedestrian_between_parked_cars"])
def test_lidar_labels_agree_with_camera_labels(scenario: str) -> None:
    """Project lidar points into the camera: away from edges and occlusions, >= 95 % share the pixel's label."""
    simulator = Simulator(load_scenario(scenario))
    for _ in range(40):
        simulator.advance(*simulator.autopilot_command())
    frame = simulator.render()
    assert frame.lidar is not None
    spec = simulator.camera_specs[0]
    camera_image = frame.cameras[spec.name]
    lidar_to_optical = invert_transform(spec.optical_in_base()) @ simulator.lidar_spec.in_base()
    xyz = np.stack([frame.lidar["x"], frame.lidar["y"], frame.lidar["z"]], axis=1).astype(np.float64)
    optical = transform_points(lidar_to_optical, xyz)
    uv, inside = spec.intrinsics().project(optical)
    u, v = uv[inside, 0].astype(int), uv[inside, 1].astype(int)
    labels = frame.lidar["label"][inside]
    distance = np.linalg.norm(optical[inside], axis=1)
    # Edges: pixels whose 5x5 neighbourhood holds more than one label.
    image_labels = camera_image.labels
    dilated = cv2.dilate(image_labels, np.ones((5, 5), np.uint8))
    eroded = cv2.erode(image_labels, np.ones((5, 5), np.uint8))
    interior = (dilated == eroded)[v, u]
    visible = np.abs(camera_image.depth[v, u] - distance) < 0.3  # the camera sees this very point
    usable = interior & visible
    assert usable.sum() > 5000
    agreement = float(np.mean(image_labels[v[usable], u[usable]] == labels[usable]))
    assert agreement >= 0.95, agreement


def test_scene_has_the_classes_a_street_needs() -> None:
    frame = Simulator(load_scenario("intersection_turn")).render()
    present = set(np.unique(frame.cameras["front"].labels).tolist())
    for name in ("road", "sidewalk", "building", "vegetation", "sky", "car", "pole", "terrain"):
        assert TRAIN_ID[name] in present, name
    lidar_classes = set(np.unique(frame.lidar["label"]).tolist())
    assert {TRAIN_ID["road"], TRAIN_ID["car"]} <= lidar_classes
    assert frame.lidar.shape[0] > 40_000  # a 64x1024 sweep, minus sky and dropout


def test_braking_lead_lights_up_then_stops() -> None:
    simulator = Simulator(load_scenario("lead_vehicle_braking"))
    lead = simulator.actors[0]
    braking_at = round(4.5 / DT)
    assert ACTIONS[lead.action[braking_at]] == "braking"
    assert lead.brake_light[braking_at] and lead.accel[braking_at] <= -5.0
    assert not lead.brake_light[round(2.0 / DT)]
    end = round(11.0 / DT)
    assert lead.speed[end] < 0.3 and ACTIONS[lead.action[end]] == "stopped"


def test_indicators_blink_at_about_one_and_a_half_hertz() -> None:
    simulator = Simulator(load_scenario("cut_in"))
    cutter = simulator.actors[0]
    signalling = cutter.action == ACTION_ID["signal_left"]
    assert signalling.sum() * DT >= 3.0  # from 1.5 s before the lane change to its end
    lamp = cutter.indicator_left[signalling].astype(int)
    rising_edges = np.count_nonzero(np.diff(lamp) == 1)
    frequency = rising_edges / (signalling.sum() * DT)
    assert 1.2 <= frequency <= 1.8
    assert not cutter.indicator_right[signalling].any()
    # The car ends one lane to the left (3.5 m), heading as before.
    start, end = np.flatnonzero(signalling)[[0, -1]]
    assert cutter.xy[end + 20, 1] - cutter.xy[start, 1] == pytest.approx(3.5, abs=0.1)


def test_hazard_lights_blink_both_sides() -> None:
    broken = Simulator(load_scenario("hazard_blocked_lane")).actors[0]
    assert (broken.action == ACTION_ID["hazard"]).all()
    assert np.array_equal(broken.indicator_left, broken.indicator_right)
    assert 0.3 < broken.indicator_left.mean() < 0.7


def test_pedestrian_crosses_the_road() -> None:
    simulator = Simulator(load_scenario("pedestrian_crossing"))
    pedestrian = next(actor for actor in simulator.actors if actor.kind == "pedestrian")
    crossing = pedestrian.action == ACTION_ID["crossing"]
    assert crossing.any()
    first, last = np.flatnonzero(crossing)[[0, -1]]
    assert pedestrian.xy[first, 1] < -3.5 and pedestrian.xy[last, 1] > 3.5  # kerb to kerb
    assert ACTIONS[pedestrian.action[first - 1]] == "walking"
    assert np.ptp(pedestrian.walk_phase[first:last]) > 1.0  # legs move


def test_ground_truth_future_is_the_actual_future() -> None:
    simulator = Simulator(load_scenario("cut_in"))
    actor = simulator.actors[0]
    future = actor.future(10)
    assert future.shape == (30, 3)
    np.testing.assert_allclose(future[0, :2], actor.xy[12])
    np.testing.assert_allclose(future[-1, :2], actor.xy[70])


def test_bicycle_model_turns_on_its_radius() -> None:
    state = EgoState(0.0, 0.0, 0.0, 5.0)
    steer = 0.2
    for _ in range(400):
        state = step_bicycle(state, 0.0, steer, 0.01)
    radius = WHEELBASE / np.tan(steer)
    centre = np.array([0.0, radius])
    assert np.hypot(state.x - centre[0], state.y - centre[1]) == pytest.approx(radius, rel=1e-3)
    assert step_bicycle(EgoState(0, 0, 0, 1.0), -8.0, 0.0, 1.0).v == 0.0  # never reverses


def test_follow_trajectory_tracks_speed_and_stops() -> None:
    state = EgoState(0.0, 0.5, 0.0, 0.0)
    times = np.arange(0, 5.0, 0.1)
    trajectory = Trajectory(t=times, xy=np.column_stack([times * 8.0, np.zeros_like(times)]))
    for step in range(100):
        state = step_bicycle(state, *follow_trajectory(state, trajectory, step * DT, DT), DT)
    assert state.v == pytest.approx(8.0, abs=0.5)
    assert abs(state.y) < 0.2
    stop = Trajectory(t=times, xy=np.tile([state.x, state.y], (len(times), 1)))
    for step in range(80):
        state = step_bicycle(state, *follow_trajectory(state, stop, step * DT, DT), DT)
    assert state.v == 0.0


def test_follow_trajectory_flies_a_planned_deceleration_without_lag() -> None:
    # 10 m/s braking at 2 m/s2: the follower must decelerate at about 2 m/s2 (feedforward), not lag behind.
    times = np.arange(0, 6.0, 0.1)
    along = np.where(times < 5.0, 10 * times - times**2, 25.0)
    trajectory = Trajectory(t=times, xy=np.column_stack([along, np.zeros_like(times)]))
    state = EgoState(0.0, 0.0, 0.0, 10.0)
    speeds = []
    for step in range(round(5.5 / DT)):
        state = step_bicycle(state, *follow_trajectory(state, trajectory, step * DT, DT), DT)
        speeds.append(state.v)
    assert speeds[round(2.0 / DT) - 1] == pytest.approx(10.0 - 2.0 * 2.0, abs=0.6)  # at t = 2 s
    assert abs(state.x - 25.0) < 1.5 and state.v < 0.3


def test_driving_into_a_stopped_car_is_a_collision() -> None:
    simulator = Simulator(load_scenario("hazard_blocked_lane"), cameras=(), lidar=None)
    while not simulator.done:
        simulator.advance(0.0, 0.0)  # no driver: straight on at 10 m/s
    results = simulator.results()
    assert results["collisions"] == 1 and results["min_gap_m"] == 0.0 and not results["success"]
    assert 0.0 < results["collided_at_s"][0] < simulator.time_s


def test_autopilot_avoids_the_braking_lead() -> None:
    simulator = Simulator(load_scenario("lead_vehicle_braking"), cameras=(), lidar=None)
    while not simulator.done:
        simulator.advance(*simulator.autopilot_command())
    results = simulator.results()
    assert results["collisions"] == 0 and results["min_gap_m"] > 1.0


def test_route_completion_ends_at_the_goal_and_waiting_costs_time_not_progress() -> None:
    scenario = replace(load_scenario("cyclist_and_signals"), duration=6.0)
    cruise = Simulator(scenario, cameras=(), lidar=None, end_at_goal=True)
    assert cruise.goal_m == pytest.approx(11.0 * 6.0) and cruise.time_limit_s == 12.0
    while not cruise.done:
        cruise.advance(*cruise.autopilot_command())
    results = cruise.results()
    assert results["progress"] == 1.0 and results["goal_reached_s"] == pytest.approx(cruise.time_s)
    assert 6.0 <= results["goal_reached_s"] < 8.0  # started at 10 m/s, cruises at 11
    # Stand still for 3 s, then drive: the fixed-duration run counts the wait against progress, the
    # route-completion run reaches the goal later.
    for end_at_goal in (False, True):
        waiting = Simulator(replace(scenario, time_limit=20.0), cameras=(), lidar=None, end_at_goal=end_at_goal)
        while not waiting.done:
            waiting.advance(*((-10.0, 0.0) if waiting.time_s < 3.0 else waiting.autopilot_command()))
        if end_at_goal:
            assert waiting.results()["progress"] == 1.0 and waiting.results()["goal_reached_s"] > 8.0
        else:
            assert waiting.results()["progress"] < 0.8 and waiting.results()["goal_reached_s"] is None
    # Never moving: the time limit ends the run.
    parked = Simulator(replace(scenario, time_limit=2.0), cameras=(), lidar=None, end_at_goal=True)
    while not parked.done:
        parked.advance(-10.0, 0.0)
    assert parked.time_s == pytest.approx(2.0) and parked.results()["progress"] < 0.2
    assert not parked.results()["success"]


def test_scenario_goal_and_time_limit_are_read_and_checked() -> None:
    scenario = parse_scenario({"success": {"goal": 120, "time_limit": 30}}, "goal.yaml")
    assert scenario.goal == 120.0 and scenario.time_limit == 30.0
    assert parse_scenario({}, "default.yaml").goal is None
    with pytest.raises(ScenarioError, match="'goal' = 0"):
        parse_scenario({"success": {"goal": 0}}, "bad.yaml")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"road": {"layout": "spiral"}}, "layout"),
        ({"road": {"lanes": 5}}, "at most 3"),
        ({"ego": {"lane": 2}}, "ego lane 2 does not exist"),
        ({"vehicles": [{"kind": "tank", "s": 3}]}, "kind"),
        ({"vehicles": [{"s": 3, "events": [{"at": 1, "brake": -2}]}]}, "positive"),
        ({"vehicles": [{"s": 3, "events": [{"at": 1, "teleport": 2}]}]}, "exactly one of"),
        ({"vehicles": [{"speed": 3}]}, "missing 's'"),
        ({"duration": "long"}, "must be a number"),
        ({"ego": {"route": "left"}}, "intersection"),
        ({"pedestrians": [{"s": 5, "side": "middle"}]}, "side"),
    ],
)
def test_bad_scenarios_are_refused_with_the_field_named(data: dict, reason: str) -> None:
    with pytest.raises(ScenarioError, match=reason):
        parse_scenario(data, "bad.yaml")


def test_segmentation_export_is_cityscapes_layout(tmp_path: Path) -> None:
    from kvision_driving.sim.datasets import export_segmentation

    scenario = replace(load_scenario("curved_road"), duration=1.0)
    count = export_segmentation([scenario], [3], tmp_path, "val", every=10, progress=False)
    assert count == 2
    images = sorted((tmp_path / "leftImg8bit" / "val" / "curved_road").glob("*_leftImg8bit.png"))
    assert len(images) == 2
    stem = images[0].name.removesuffix("_leftImg8bit.png")
    train_ids = cv2.imread(
        str(tmp_path / "gtFine/val/curved_road" / f"{stem}_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED
    )
    label_ids = cv2.imread(
        str(tmp_path / "gtFine/val/curved_road" / f"{stem}_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED
    )
    assert train_ids.shape == (384, 640) and train_ids.dtype == np.uint8
    mapped = np.vectorize(lambda i: LABEL_ID_TO_TRAIN_ID.get(int(i), 255))(label_ids)
    np.testing.assert_array_equal(mapped, train_ids)
    from kvision_driving.data.segmentation_sets import spec_for

    assert spec_for(tmp_path).name == "simulator"  # its dataset spec travels with it: rendered, Cityscapes ids


def test_action_clips_export(tmp_path: Path) -> None:
    from kvision_driving.sim.datasets import CLIP_FRAMES, CLIP_SIZE, export_action_clips

    scenario = replace(load_scenario("cut_in"), duration=4.0)
    records = export_action_clips([scenario], [0], tmp_path, every=20, progress=False)
    assert records
    clip = np.load(tmp_path / records[0].path)["clip"]
    assert clip.shape == (CLIP_FRAMES, CLIP_SIZE, CLIP_SIZE, 3) and clip.dtype == np.uint8
    assert clip.std() > 5  # not blank
    assert {record.action for record in records} <= set(ACTIONS)
    assert (tmp_path / "clips.csv").read_text().count("\n") == len(records) + 1


def test_second_camera_rig_renders_both_cameras() -> None:
    frame = Simulator(load_scenario("dense_traffic"), cameras=CAMERA_RIGS["front_left"]).render()
    assert set(frame.cameras) == {"front", "left"}
    assert frame.cameras["front"].rgb.tobytes() != frame.cameras["left"].rgb.tobytes()


def test_preview_writes_a_contact_sheet(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "kvision"), "sim", "preview", "--scenario", "cut_in", "--times", "1.0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sheet = cv2.imread(str(tmp_path / "cut_in_001.0s.png"))
    assert sheet.shape == (768, 1280, 3)


def test_cli_refuses_unknown_scenario_and_existing_output(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "kvision"), "sim", "record", "--scenario", "moon_landing", "--out", str(tmp_path / "bag")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "unknown scenario 'moon_landing'" in result.stderr
    result = subprocess.run(
        [str(BIN / "kvision"), "sim", "record", "--scenario", "cut_in", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "already exists" in result.stderr


def _frame_with_look(look: str, seed: int = 3):
    from kvision_driving.sim.appearance import AppearanceSettings

    scenario = replace(load_scenario("dense_traffic"), seed=seed)
    simulator = Simulator(scenario, lidar=None, appearance=AppearanceSettings.parse(look))
    for _ in range(30):
        simulator.advance(*simulator.autopilot_command())
    return simulator.render().cameras["front"]


def test_looks_change_the_camera_not_the_labels() -> None:
    """Textures add detail to flat surfaces, shadows darken what the sun does not reach, randomised worlds
    differ in colour from each other; the labels stay exactly the plain ones."""
    from kvision_driving.sim.appearance import AppearanceSettings

    plain, textured, shadowed = (_frame_with_look(look) for look in ("plain", "textures", "shadows"))
    for frame in (textured, shadowed):
        np.testing.assert_array_equal(frame.labels, plain.labels)
    road = plain.labels == TRAIN_ID["road"]

    def local_detail(rgb: np.ndarray) -> float:
        grey = rgb.astype(np.float32).mean(axis=2)
        return float(np.abs(grey - cv2.blur(grey, (5, 5)))[road].mean())

    assert local_detail(textured.rgb) > 2.0 * local_detail(plain.rgb) + 1.0  # asphalt has grain now
    darker = plain.rgb.astype(int).sum(axis=2) - shadowed.rgb.astype(int).sum(axis=2) > 60
    assert darker.sum() > 500 and not darker[plain.labels == TRAIN_ID["sky"]].any()  # cast shadows, not sky
    assert not (shadowed.rgb.astype(int).sum(axis=2) - plain.rgb.astype(int).sum(axis=2) > 12).any()  # never brighter
    one, other = (_frame_with_look("randomise", seed) for seed in (3, 4))
    assert (
        abs(float(one.rgb[road].mean()) - float(plain.rgb[road].mean())) > 3
        or abs(float(other.rgb.mean()) - float(one.rgb.mean())) > 3
    )
    with pytest.raises(ValueError, match="unknown appearance fog"):
        AppearanceSettings.parse("textures,fog")
    assert str(AppearanceSettings.parse("shadows,textures")) == "textures,shadows"
