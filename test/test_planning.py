"""The planner on hand-built scenes: each decision chosen for the right reason, and a trajectory that an
independent oriented-box check finds collision-free against every hypothesis of every road user."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvision_driving.core.boxes import box_corners, box_distance
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE, EgoState
from kvision_driving.planning.occupancy import FREE, OCCUPIED, UNKNOWN, build_grid
from kvision_driving.planning.planner import Behaviour, Plan, Planner, PlannerConfig
from kvision_driving.planning.profiles import LateralManoeuvres, integrate_speed
from kvision_driving.planning.scene import PredictedPath, RoadUser

LANE_Y = -1.75  # ego's lane centre on a road along +x (right-hand traffic, the oncoming lane at +1.75)
ROUTE = np.stack([np.arange(-40.0, 400.0), np.full(440, LANE_Y)], axis=1)
EGO = EgoState(40.0, LANE_Y, 0.0, 10.0)


def road_user(
    name: str, kind: str, x: float, y: float, yaw: float, speed: float, action: str = "moving", decel: float = 0.0
) -> RoadUser:
    """A road user with one 3 s hypothesis: constant heading, speed changing by ``decel`` down to a stop."""
    length, width = (0.6, 0.6) if kind == "pedestrian" else (4.5, 1.8)
    t = np.arange(31) * 0.1
    along = speed * t - 0.5 * decel * t**2 if decel else speed * t
    if decel:
        stop = speed / decel
        along = np.where(t < stop, along, speed * stop - 0.5 * decel * stop**2)
    xy = np.stack([x + np.cos(yaw) * along, y + np.sin(yaw) * along], axis=1)
    path = PredictedPath(xy, np.full(31, yaw), 0.1, 1.0)
    return RoadUser(name, kind, np.array([x, y]), yaw, length, width, speed, action, (path,))


def assert_collision_free(plan: Plan, users: list[RoadUser], margin: float = 0.2) -> None:
    """Ego's box at every planned pose against each user's box at the same time (oriented boxes, SAT distance)."""
    for k, time_s in enumerate(plan.t):
        heading = np.array([np.cos(plan.yaw[k]), np.sin(plan.yaw[k])])
        centre = plan.xy[k] + REAR_AXLE_TO_CENTRE * heading
        ego_box = box_corners(centre[0], centre[1], plan.yaw[k], EGO_LENGTH, EGO_WIDTH)
        for user in users:
            for _, xy, yaw in user.positions(np.array([time_s]), 0.1):
                other = box_corners(xy[0, 0], xy[0, 1], yaw[0], user.length, user.width)
                distance = box_distance(ego_box, other)
                assert distance > margin, f"{user.object_id} within {distance:.2f} m at t={time_s:.1f} s"


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(ROUTE)


def test_clear_road_cruises_in_lane(planner: Planner) -> None:
    plan = planner.plan(EGO, [])
    assert plan.behaviour is Behaviour.CRUISE
    assert np.allclose(plan.xy[:, 1], LANE_Y, atol=0.05)
    assert plan.v[-1] == pytest.approx(PlannerConfig().cruise_speed, abs=0.5)
    assert np.all(np.diff(plan.t) > 0) and plan.t[-1] == pytest.approx(5.0)


def test_braking_lead_is_followed_with_a_longer_gap(planner: Planner) -> None:
    lead = road_user("lead", "car", 62.0, LANE_Y, 0.0, 8.0, action="braking", decel=3.0)
    plan = planner.plan(EGO, [lead])
    assert plan.behaviour is Behaviour.FOLLOW
    assert "braking" in plan.reason and plan.constraint_id == "lead"
    assert plan.v[-1] < 4.0  # slowing down with it
    assert_collision_free(plan, [lead])
    steady = planner.plan(EGO, [road_user("lead", "car", 62.0, LANE_Y, 0.0, 8.0, action="moving", decel=3.0)])
    assert plan.xy[-1, 0] <= steady.xy[-1, 0] + 0.1  # the braking action makes it keep further back


def test_cut_in_signalling_into_our_lane_is_followed_before_it_moves_over(planner: Planner) -> None:
    # Beside us in the left lane, signalling right, its predicted path still straight: the action decides.
    cutter = road_user("cutter", "car", 55.0, LANE_Y + 3.5, 0.0, 8.0, action="signal_right")
    plan = planner.plan(EGO, [cutter])
    assert plan.behaviour is Behaviour.FOLLOW
    assert "cut-in" in plan.reason and plan.constraint_id == "cutter"
    assert plan.v[-1] < EGO.v
    assert_collision_free(plan, [cutter])
    ignored = planner.plan(EGO, [road_user("cutter", "car", 55.0, LANE_Y + 3.5, 0.0, 8.0, action="moving")])
    assert ignored.behaviour is Behaviour.CRUISE  # the same car without the signal does not constrain us


def test_crossing_pedestrian_is_yielded_to(planner: Planner) -> None:
    walker = road_user("walker", "pedestrian", 68.0, LANE_Y - 3.5, np.pi / 2, 1.4, action="crossing")
    plan = planner.plan(EGO, [walker])
    assert plan.behaviour is Behaviour.YIELD_PEDESTRIAN
    assert plan.constraint_id == "walker"
    front = plan.xy[-1, 0] + REAR_AXLE_TO_CENTRE + EGO_LENGTH / 2
    assert plan.v[-1] < 0.1 and front < 68.0 - 2.0  # stopped short of where it crosses
    assert plan.a.min() >= -PlannerConfig().comfort_decel - 1e-6
    assert_collision_free(plan, [walker])


def test_blocked_lane_is_passed_on_the_right_not_through_the_oncoming_lane(planner: Planner) -> None:
    broken = road_user("broken", "car", 75.0, LANE_Y, 0.0, 0.0, action="hazard")
    plan = planner.plan(EGO, [broken])
    assert plan.behaviour is Behaviour.PASS_BLOCKED_LANE and "right" in plan.reason
    assert plan.xy[-1, 1] == pytest.approx(LANE_Y - 3.5, abs=0.3)
    assert_collision_free(plan, [broken])


def test_blocked_lane_is_passed_on_the_left_once_a_car_is_seen_driving_our_way_there() -> None:
    broken = road_user("broken", "car", 75.0, LANE_Y, 0.0, 0.0, action="hazard")
    ahead_on_the_left = road_user("ahead", "car", 150.0, LANE_Y + 3.5, 0.0, 12.0)
    planner = Planner(ROUTE)
    plan = planner.plan(EGO, [broken, ahead_on_the_left], stamp_s=100.0)
    assert plan.behaviour is Behaviour.PASS_BLOCKED_LANE and "left" in plan.reason
    assert plan.xy[-1, 1] == pytest.approx(LANE_Y + 3.5, abs=0.3)
    assert_collision_free(plan, [broken, ahead_on_the_left])
    # Remembered once it has gone out of sight; but an oncoming car seen in that lane overrides it.
    assert "left" in planner.plan(EGO, [broken], stamp_s=110.0).reason
    oncoming = road_user("oncoming", "car", 160.0, LANE_Y + 3.5, np.pi, 10.0)
    assert "right" in planner.plan(EGO, [broken, oncoming], stamp_s=111.0).reason
    keep_left = Planner(ROUTE, PlannerConfig(oncoming_side="right"))  # left-hand traffic: the right is oncoming
    assert "left" in keep_left.plan(EGO, [broken]).reason


def drive(planner: Planner, ego: EgoState, users: list[RoadUser], seconds: float, start_s: float = 100.0) -> EgoState:
    """Replan every 0.1 s (stamped), ego tracking each plan perfectly for one step; where ego ends up."""
    for step in range(round(seconds / 0.1)):
        plan = planner.plan(ego, users, stamp_s=start_s + step * 0.1)
        assert_collision_free(plan, users)
        ego = EgoState(
            float(plan.xy[1, 0]), float(plan.xy[1, 1]), float(plan.yaw[1]), float(plan.v[1]), float(plan.a[1])
        )
    return ego


def test_a_pass_replanned_every_cycle_moves_over_on_time() -> None:
    # Each cycle continues the manoeuvre the last one began (its end time, its lateral acceleration); restarted
    # from rest every cycle, ego crept over and came up beside the car it was passing barely moved over.
    broken = road_user("broken", "car", 75.0, LANE_Y, 0.0, 0.0, action="hazard")
    lane_change_s = PlannerConfig().lane_change_s
    ego = drive(Planner(ROUTE), EGO, [broken], lane_change_s)
    assert ego.y == pytest.approx(LANE_Y - 3.5, abs=0.3)


def test_a_slow_pass_from_close_behind_steers_round_without_swinging_onto_the_kerb() -> None:
    # Rolling up at 1.6 m/s 10 m behind a car that has stood long enough; a kerb (fence) along the right lane's
    # outer edge. A lateral move timed in seconds at this speed turned ego 53 degrees across the lane and
    # into the kerb; over distance, the pass is a gentle S that clears it.
    stopped = road_user("stopped", "car", 95.0, LANE_Y, 0.0, 0.0, action="stopped")
    kerb_x = np.arange(60.0, 140.0, 0.2)
    kerb = np.stack([kerb_x, np.full(len(kerb_x), LANE_Y - 5.25), np.full(len(kerb_x), 0.5)], axis=1)
    ego = EgoState(95.0 - 2.25 - 10.0 - REAR_AXLE_TO_CENTRE - EGO_LENGTH / 2, LANE_Y, 0.0, 1.6)
    grid = build_grid(kerb, np.full(len(kerb), 4), ground_z=0.0, centre=ego.xy)  # 4: fence
    planner = Planner(ROUTE)
    planner.plan(ego, [stopped], grid, stamp_s=100.0)
    plan = planner.plan(ego, [stopped], grid, stamp_s=100.0 + PlannerConfig().pass_after_s)
    assert plan.behaviour is Behaviour.PASS_BLOCKED_LANE and "right" in plan.reason, plan.reason
    assert plan.min_clearance > 0.0 and np.abs(plan.yaw).max() < 0.6  # timed in seconds: 0.9 rad
    assert_collision_free(plan, [stopped])


@pytest.mark.parametrize("gap", [4.0, 7.0])
def test_from_a_stop_close_behind_a_pass_pulls_out_sharply_and_only_as_far_as_it_must(gap: float) -> None:
    # Stopped a few metres behind a car that has stood long enough: a gentle 20 m lane change would run into
    # it, so the pass pulls out over 10 m (it waited behind until the time limit without this). Only as far
    # as clears the car: pulled out that sharply all the way to the next lane's centre, the nose swings over
    # the kerb before ego straightens, and with a kerb there ego never passed (closed loop,
    # ``lead_vehicle_braking``, stopped 4 m behind).
    stopped = road_user("stopped", "car", 75.0, LANE_Y, 0.0, 0.0, action="stopped")
    ahead_on_the_right = road_user("ahead", "car", 150.0, LANE_Y - 3.5, 0.0, 12.0)  # the right lane runs our way
    kerb_x = np.arange(40.0, 140.0, 0.2)
    kerb = np.stack([kerb_x, np.full(len(kerb_x), LANE_Y - 5.25), np.full(len(kerb_x), 0.5)], axis=1)
    ego = EgoState(75.0 - 2.25 - gap - REAR_AXLE_TO_CENTRE - EGO_LENGTH / 2, LANE_Y, 0.0, 0.0)
    grid = build_grid(kerb, np.full(len(kerb), TRAIN_ID["fence"]), ground_z=0.0, centre=ego.xy)
    planner = Planner(ROUTE, PlannerConfig(pass_left=False))
    planner.plan(ego, [stopped, ahead_on_the_right], grid, stamp_s=100.0)
    plan = planner.plan(ego, [stopped, ahead_on_the_right], grid, stamp_s=100.0 + PlannerConfig().pass_after_s)
    assert plan.behaviour is Behaviour.PASS_BLOCKED_LANE, plan.reason
    assert plan.xy[-1, 0] > 75.0 and LANE_Y - 3.5 < plan.xy[-1, 1] < LANE_Y - 2.5  # past it, clear of it
    assert plan.min_clearance > 0.0  # of the car and of the kerb
    assert_collision_free(plan, [stopped, ahead_on_the_right])


def test_a_stopped_car_without_hazards_is_passed_only_after_standing_a_while() -> None:
    planner = Planner(ROUTE)
    stopped = road_user("stopped", "car", 75.0, LANE_Y, 0.0, 0.0, action="stopped")
    waiting = planner.plan(EGO, [stopped], stamp_s=100.0)
    assert waiting.behaviour is not Behaviour.PASS_BLOCKED_LANE  # it may be queueing: follow, do not overtake
    assert np.allclose(waiting.xy[:, 1], LANE_Y, atol=0.05)
    planner.plan(EGO, [stopped], stamp_s=100.0 + PlannerConfig().pass_after_s / 2)
    passing = planner.plan(EGO, [stopped], stamp_s=100.0 + PlannerConfig().pass_after_s)
    assert passing.behaviour is Behaviour.PASS_BLOCKED_LANE, passing.reason
    planner.reset()  # the clock went back: standing times start again
    assert planner.plan(EGO, [stopped], stamp_s=50.0).behaviour is not Behaviour.PASS_BLOCKED_LANE


def test_blocked_lane_with_both_neighbours_busy_stops_behind(planner: Planner) -> None:
    broken = road_user("broken", "car", 75.0, LANE_Y, 0.0, 0.0, action="hazard")
    oncoming = road_user("oncoming", "car", 115.0, LANE_Y + 3.5, np.pi, 10.0)
    right = road_user("right", "car", 45.0, LANE_Y - 3.5, 0.0, 10.0)
    plan = planner.plan(EGO, [broken, oncoming, right])
    assert plan.behaviour is Behaviour.STOP_FOR_OBSTACLE, plan.reason
    assert plan.constraint_id == "broken" and "no adjacent lane free" in plan.reason
    front = plan.xy[-1, 0] + REAR_AXLE_TO_CENTRE + EGO_LENGTH / 2
    assert front < 75.0 - 2.25 - 2.0
    assert_collision_free(plan, [broken, oncoming, right])


def test_sudden_obstacle_is_an_emergency_stop(planner: Planner) -> None:
    dropped = road_user("dropped", "car", 52.0, LANE_Y, 0.0, 0.0, action="stopped")
    config = PlannerConfig(pass_left=False, pass_right=False)
    plan = Planner(ROUTE, config).plan(EGO, [dropped])
    assert plan.behaviour is Behaviour.EMERGENCY_STOP
    assert plan.a.min() < -config.comfort_decel
    assert plan.v[-1] == 0.0


def test_static_obstacle_in_the_grid_is_respected(planner: Planner) -> None:
    # A wall of painted "building" points across the lane 30 m ahead: no road user, only the grid.
    ys = np.linspace(LANE_Y - 1.5, LANE_Y + 1.5, 30)
    wall = np.stack([np.full(30, 70.0), ys, np.full(30, 1.0)], axis=1)
    road = np.stack([np.linspace(40, 69, 200), np.full(200, LANE_Y), np.zeros(200)], axis=1)
    points = np.concatenate([wall, road])
    labels = np.concatenate([np.full(30, 2), np.zeros(200, dtype=int)])  # building, road
    grid = build_grid(points, labels, ground_z=0.0, centre=EGO.xy)
    plan = Planner(ROUTE, PlannerConfig(pass_left=False, pass_right=False)).plan(EGO, [], grid)
    front = plan.xy[:, 0] + REAR_AXLE_TO_CENTRE + EGO_LENGTH / 2
    assert front.max() < 70.0 - 0.3
    assert plan.behaviour is not Behaviour.CRUISE


def test_occupancy_grid_cells() -> None:
    points = np.array([[5.0, 0.0, 0.0], [5.0, 2.0, 1.0], [6.0, 3.0, 0.0], [7.0, 0.0, 1.0], [8.0, 0.0, 1.0]])
    labels = np.array([0, 2, 1, 13, 255])  # road, building, sidewalk, car (a road user), unlabelled standing
    points, labels = np.repeat(points, 2, axis=0), np.repeat(labels, 2)  # two returns per cell: not noise
    lone = np.array([[9.0, 0.0, 1.0]])  # a single unlabelled return
    grid = build_grid(np.vstack([points, lone]), np.append(labels, 255), ground_z=0.0, centre=np.zeros(2))

    def cell(x: float, y: float) -> int:
        return int(grid.cells[int((y - grid.origin[1]) / grid.resolution), int((x - grid.origin[0]) / grid.resolution)])

    assert cell(5.0, 0.0) == FREE
    assert cell(5.0, 2.0) == OCCUPIED and cell(6.0, 3.0) == OCCUPIED and cell(8.0, 0.0) == OCCUPIED
    assert cell(7.0, 0.0) == OCCUPIED  # a car no track explains is an obstacle like any other
    tracked = build_grid(points, labels, ground_z=0.0, centre=np.zeros(2), tracked_boxes=[(7.0, 0.0, 0.0, 4.5, 1.8)])
    assert (
        tracked.cells[
            int((0.0 - tracked.origin[1]) / tracked.resolution), int((7.0 - tracked.origin[0]) / tracked.resolution)
        ]
        == UNKNOWN
    )  # a tracked car is checked through its predicted paths, not the grid
    # Unlabelled returns on a tracked box (the car where the camera does not see it), and returns painted as
    # a pole there (segmentation's error), belong to the track; a metre beside the box they are an obstacle.
    on_box, beside = np.array([[8.5, 0.5, 1.0]] * 2), np.array([[8.5, 1.9, 1.0]] * 2)
    pole_on_box, pole_beside = np.array([[6.0, -0.5, 1.0]] * 2), np.array([[6.0, -1.9, 1.0]] * 2)
    boxed = build_grid(
        np.vstack([on_box, beside, pole_on_box, pole_beside]), np.array([255] * 4 + [TRAIN_ID["pole"]] * 4),
        ground_z=0.0, centre=np.zeros(2), tracked_boxes=[(7.0, 0.0, 0.0, 4.5, 1.8)],
    )  # fmt: skip

    def boxed_cell(x: float, y: float) -> int:
        return int(boxed.cells[int((y - boxed.origin[1]) / 0.25), int((x - boxed.origin[0]) / 0.25)])

    assert boxed_cell(8.5, 0.5) == UNKNOWN and boxed_cell(6.0, -0.5) == UNKNOWN
    assert boxed_cell(8.5, 1.9) == OCCUPIED and boxed_cell(6.0, -1.9) == OCCUPIED
    assert cell(-20.0, 10.0) == UNKNOWN
    assert cell(9.0, 0.0) == UNKNOWN  # one return is noise, not an obstacle
    assert grid.lookup_clearance(np.array([[5.0, 1.0]]))[0] == pytest.approx(1.0, abs=0.3)
    assert np.isinf(grid.lookup_clearance(np.array([[500.0, 0.0]]))[0])


def test_lateral_manoeuvre_meets_its_boundary_conditions() -> None:
    distance = np.tile(np.arange(51) * 1.0, (2, 1))  # metres travelled
    moves = LateralManoeuvres.solve(0.4, 0.05, 0.0, np.array([3.5, 0.0]), np.array([30.0, 20.0]))
    d = moves.at(distance)
    assert d[:, 0] == pytest.approx([0.4, 0.4])
    assert d[0, 30:] == pytest.approx(np.full(21, 3.5)) and d[1, 20:] == pytest.approx(np.zeros(31), abs=1e-9)
    assert moves.at(distance, derivative=1)[:, 0] == pytest.approx([0.05, 0.05])  # starts with the given slope
    assert np.gradient(d[0], 1.0)[1] == pytest.approx(0.05, abs=0.01)
    bent = LateralManoeuvres.solve(0.4, 0.05, 0.01, np.array([3.5]), np.array([30.0]))
    assert bent.at(np.zeros(1), derivative=2)[0] == pytest.approx(0.01)  # and the given curvature
    assert np.gradient(np.gradient(bent.at(distance[:1])[0], 1.0), 1.0)[1] == pytest.approx(0.01, abs=0.003)
    stopped = moves.at(np.array([[10.0] * 5, [0.0] * 5]))  # standing still: no sideways motion
    assert np.ptp(stopped, axis=1) == pytest.approx([0.0, 0.0])


def test_speed_integration_respects_jerk_and_never_reverses() -> None:
    s, v, a = integrate_speed(5.0, 0.0, np.full((1, 51), -8.0), 0.1, 4.0, (-8.0, 2.0))
    moving = v[0, 1:] > 0.0  # the step that reaches standstill releases the brake at once, by design
    assert moving.sum() >= 5 and np.all(np.abs(np.diff(a[0]))[moving] <= 0.4 + 1e-9)
    assert np.abs(np.diff(a[0]))[:5].max() == pytest.approx(0.4)  # braking builds up at the limit
    assert np.all(v >= 0) and np.all(np.diff(s[0]) >= 0) and v[0, -1] == 0.0


@settings(max_examples=200, deadline=None)
@given(
    v0=st.floats(0.0, 30.0),
    a0=st.floats(-6.0, 2.0),
    wanted=st.lists(st.floats(-12.0, 6.0), min_size=2, max_size=40),
    max_jerk=st.floats(0.5, 10.0),
)
def test_speed_profiles_keep_every_limit(v0: float, a0: float, wanted: list[float], max_jerk: float) -> None:
    """Any start and any wish: acceleration within its limits (once there), jerk within its limit while
    moving, speed never negative, distance never shrinking, and s the integral of v."""
    dt, limits = 0.1, (-8.0, 2.0)
    desired = np.array([[*wanted, wanted[-1]]])
    s, v, a = integrate_speed(v0, a0, desired, dt, max_jerk, limits)
    steps = np.abs(np.diff(a[0]))
    moving = v[0, 1:] > 0.0
    assert np.all(steps[moving] <= max_jerk * dt + 1e-9)
    assert np.all(a[0, 1:] >= min(limits[0], a0) - 1e-9) and np.all(a[0, 1:] <= max(limits[1], a0) + 1e-9)
    assert np.all(v >= 0.0) and np.all(np.diff(s[0]) >= -1e-12)
    np.testing.assert_allclose(np.diff(s[0]), 0.5 * (v[0, :-1] + v[0, 1:]) * dt, atol=1e-9)
    np.testing.assert_allclose(np.diff(v[0])[moving], a[0, 1:][moving] * dt, atol=1e-9)


def test_watchdog_stop_is_controlled(planner: Planner) -> None:
    plan = planner.stop_plan(EGO, "perception stale")
    assert plan.behaviour is Behaviour.SAFE_STOP and plan.reason == "perception stale"
    assert plan.v[-1] == 0.0 and plan.a.min() >= -PlannerConfig().comfort_decel - 1e-6
    assert np.allclose(plan.xy[:, 1], LANE_Y, atol=0.05)


def test_watchdog_ages_count_from_now_after_the_clock_went_back() -> None:
    from kvision_driving.planning.watchdog import InputWatchdog

    watchdog = InputWatchdog(["odometry"], max_age_s=0.3)
    watchdog.seen("odometry", 100.0)
    assert watchdog.problems(100.2) == []
    assert watchdog.problems(5.0) == []  # a simulator restart: time is 5 s now, the input was just seen
    assert watchdog.problems(5.2) == []
    assert watchdog.problems(5.4) == ["odometry stale (400 ms)"]  # and a dead input is still found stale
    watchdog.node_status("fusion_node", True, "boom")
    assert watchdog.problems(5.4)[-1] == "fusion_node in ERROR: boom"


@pytest.mark.parametrize("lag", [1.0, 0.6])
def test_a_pass_driven_over_its_own_plans_from_close_behind_gets_past_with_a_kerb_beside(lag: float) -> None:
    # Ego follows its own plans each cycle (``lag`` of the way to the pose 0.1 s on: a controller behind its
    # plan) from a stop 4 m behind a car that has stood long enough, a kerb along the right lane's outer
    # edge. The pass must get by. Lagging, ego came up beside the car short of where the plan had it, held
    # the offset it was at, too close, and then no candidate was free (an emergency stop beside the car, as
    # in the closed loop): a move only as far as clears the car is now on offer at every cycle of a pass.
    stopped = road_user("stopped", "car", 75.0, LANE_Y, 0.0, 0.0, action="stopped")
    kerb_x = np.arange(40.0, 160.0, 0.2)
    kerb = np.stack([kerb_x, np.full(len(kerb_x), LANE_Y - 5.25), np.full(len(kerb_x), 0.5)], axis=1)
    grid = build_grid(kerb, np.full(len(kerb), TRAIN_ID["fence"]), ground_z=0.0, centre=np.array([75.0, LANE_Y]))
    ego = EgoState(75.0 - 2.25 - 4.0 - REAR_AXLE_TO_CENTRE - EGO_LENGTH / 2, LANE_Y, 0.0, 0.0)
    planner = Planner(ROUTE, PlannerConfig(pass_left=False))
    behaviours, lowest = [], np.inf
    for cycle in range(120):  # 8 s
        plan = planner.plan(ego, [stopped], grid, stamp_s=100.0 + 0.1 * cycle)
        behaviours.append(plan.behaviour)
        assert plan.behaviour is not Behaviour.EMERGENCY_STOP, (cycle, plan.reason)
        assert_collision_free(plan, [stopped])
        x, y = plan.xy[0] + lag * (plan.xy[1] - plan.xy[0])
        ego = EgoState(float(x), float(y), float(plan.yaw[1]), float(plan.v[1]), float(plan.a[1]))
        lowest = min(lowest, float(y))
    assert Behaviour.PASS_BLOCKED_LANE in behaviours
    assert ego.x > 75.0 + 2.25 + 5.0, "past the car"
    assert lowest > LANE_Y - 5.25 + EGO_WIDTH / 2  # never on the kerb
