"""planning_node: route, predicted objects, painted points and odometry in; a safe timed trajectory out.

On a vehicle (``max_rate_hz`` > 0) a plan is made as soon as new predicted objects arrive, with the
newest odometry: perception paces planning, and its results wait for no timer. Without new objects
(a perception that lags or stopped), plans go on from odometry, one per 1/max_rate_hz of its stamps
once ``input_sync_s`` has passed since the last plan, with the newest perception there is. In a
lockstep simulator (``max_rate_hz`` 0) every odometry message gets a plan once the perception inputs
have caught up with it (stamped within ``input_sync_s`` of it) or after waiting ``input_sync_s``:
simulated time stands still while the stack works, so every plan sees the perception of its own instant.
A watchdog at ``watchdog_rate_hz`` on the node's clock (simulated time under
use_sim_time) publishes a controlled stop whenever a required input is older than ``max_input_age_s``
or a monitored node reports ERROR, and planning resumes by itself when they recover.
"""

from __future__ import annotations

import threading
import time
import traceback

import numpy as np
from autoware_perception_msgs.msg import PredictedObjects
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid as OccupancyGridMsg
from nav_msgs.msg import Odometry, Path
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2
from vision_msgs.msg import Detection2DArray
from visualization_msgs.msg import MarkerArray

from kvision_driving.core.frames import FrameNotFoundError, PoseHistory
from kvision_driving.core.geometry import finite_rows, transform_points, yaw_of
from kvision_driving.core.labels import check_train_ids
from kvision_driving.core.stamps import RateWindows, StampOrder
from kvision_driving.core.vehicle import EgoState
from kvision_driving.planning.occupancy import GridSpec, OccupancyGrid, build_grid
from kvision_driving.planning.planner import Behaviour, Plan, Planner, PlannerConfig
from kvision_driving.planning.scene import RoadUser
from kvision_driving.planning.watchdog import InputWatchdog
from kvision_driving.ros.convert import (
    ConversionError,
    decode_raw,
    odometry_to_state,
    pointcloud2_field,
    pointcloud2_to_xyz,
    stamp_to_ns,
)
from kvision_driving.ros.diagnostics import ERROR, OK, WARN
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParamSpec
from kvision_driving.ros.planning_messages import (
    action_map,
    grid_to_message,
    plan_markers,
    plan_to_path,
    road_users,
    route_to_xy,
)
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.tf import StaticTransformListener

PARAMS = (
    ParamSpec("objects_topic", "perception/objects/predicted", "Predicted objects (autoware PredictedObjects)"),
    ParamSpec("actions_topic", "perception/actions", "Recognised actions (vision_msgs Detection2DArray); '' off"),
    ParamSpec("points_topic", "perception/fusion/painted_points", "Painted points for the occupancy grid; '' off"),
    ParamSpec(
        "labels_topic",
        "perception/segmentation/labels",
        "Camera labels, watched for freshness only (a dead camera or segmentation stops the car); '' to skip",
    ),
    ParamSpec("cruise_speed", 11.0, "Speed on a free road (m/s)", 0.0, 40.0),
    ParamSpec("lane_width", 3.5, "Lane width for passing manoeuvres (m)", 2.0, 6.0),
    ParamSpec("pass_left", True, "Pass a blocked lane on the left when free"),
    ParamSpec("pass_right", True, "Pass a blocked lane on the right when free"),
    ParamSpec(
        "oncoming_side",
        "left",
        "Side of oncoming traffic (left: right-hand traffic); a lane there is not passed into until a vehicle "
        "is seen driving our way in it",
        choices=("left", "right", "none"),
    ),
    ParamSpec(
        "pass_after_s", 2.0, "A vehicle standing this long in our lane may be passed (on hazards: at once)", 0.0, 60.0
    ),
    ParamSpec("comfort_decel", 3.0, "Deceleration beyond which a stop is declared an emergency (m/s2)", 0.5, 8.0),
    ParamSpec("time_gap", 1.5, "Following time gap (s)", 0.5, 5.0),
    ParamSpec("max_input_age_s", 0.3, "Watchdog: inputs older than this trigger a controlled stop", 0.05, 5.0),
    ParamSpec(
        "watchdog_rate_hz", 10.0, "Watchdog checks per second (node clock: sim time under use_sim_time)", 1.0, 100.0
    ),
    ParamSpec(
        "input_sync_s",
        0.25,
        "How far perception stamps may lag odometry before a plan waits, and the longest wait (node clock)",
        0.0,
        2.0,
    ),
    ParamSpec(
        "max_rate_hz",
        10.0,
        "> 0: plan on each new predicted objects, else this many plans per second of odometry stamps; "
        "0: one plan per odometry (lockstep simulation)",
        0.0,
        1000.0,
    ),
    ParamSpec(
        "monitored_nodes",
        ["segmentation_node", "fusion_node", "action_node"],
        "Nodes whose ERROR on /diagnostics stops the vehicle",
    ),
    ParamSpec("grid_size_m", 80.0, "Occupancy grid side (m), centred on ego", 10.0, 400.0),
    ParamSpec("grid_resolution_m", 0.25, "Occupancy grid cell size (m)", 0.05, 2.0),
    ParamSpec("base_frame", "base_link", "Vehicle frame"),
)


class PlanningNode(KvisionNode):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("planning_node", PARAMS, **kwargs)
        params = self.params
        self.config = PlannerConfig(
            cruise_speed=float(params["cruise_speed"]),
            lane_width=float(params["lane_width"]),
            pass_left=bool(params["pass_left"]),
            pass_right=bool(params["pass_right"]),
            pass_after_s=float(params["pass_after_s"]),
            oncoming_side=str(params["oncoming_side"]),
            comfort_decel=float(params["comfort_decel"]),
            time_gap=float(params["time_gap"]),
        )
        self.grid_spec = GridSpec(size_m=float(params["grid_size_m"]), resolution=float(params["grid_resolution_m"]))
        self.use_grid = bool(params["points_topic"])
        required = ["odometry", "objects"] + (["painted_points"] if self.use_grid else [])
        required += ["labels"] if params["labels_topic"] else []
        self.watchdog = InputWatchdog(required, float(params["max_input_age_s"]))
        self.monitored = {str(name) for name in params["monitored_nodes"]}
        self.lock = threading.Lock()
        self.planner: Planner | None = None
        self.ego: EgoState | None = None
        self.ego_stamp_ns = -1
        self.planned_stamp_ns = -1
        self.planned_users_stamp_ns = -1
        self.planned_at_s = float("-inf")
        self.windows = RateWindows(float(params["max_rate_hz"]))
        self.ego_arrival_s = float("-inf")
        self.users: list[RoadUser] = []
        self.users_stamp_ns = -1
        self.actions: dict[str, str] = {}
        self.grid: OccupancyGrid | None = None
        self.grid_stamp_ns = -1
        self.poses = PoseHistory()
        self.tf = StaticTransformListener(self, on_reject=self.reject)
        self.stopping = False
        self.behaviour: Behaviour | None = None  # of the last plan, to log transitions
        self.ego_z = 0.0
        reliable = qos_by_name("reliable")
        self.trajectory_pub = self.create_publisher(Path, "planning/trajectory", reliable)
        self.grid_pub = self.create_publisher(OccupancyGridMsg, "planning/occupancy", reliable)
        self.markers_pub = self.create_publisher(MarkerArray, "planning/markers", reliable)
        self.create_subscription(Path, "planning/route", self.on_route, qos_by_name("latched"))
        self.create_subscription(Odometry, "localization/odometry", self.on_odometry, reliable)
        # Raw, decoded by rosbags: the objects' hundreds of path poses are most of a plan's input time.
        self.create_subscription(PredictedObjects, str(params["objects_topic"]), self.on_objects, reliable, raw=True)
        if params["actions_topic"]:
            self.create_subscription(Detection2DArray, str(params["actions_topic"]), self.on_actions, reliable)
        if self.use_grid:
            self.create_subscription(PointCloud2, str(params["points_topic"]), self.on_points, self.input_qos)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, reliable)
        if params["labels_topic"]:  # raw: only the arrival matters, so the image is never deserialised
            self.create_subscription(
                Image, str(params["labels_topic"]), self.on_labels, qos_by_name("sensor_data"), raw=True
            )
        # The watchdog runs on the node's clock, simulated time under use_sim_time: a lockstep simulator that
        # waits for a slow stack stops time for everyone, and nothing is stale then; on a vehicle it is wall time.
        self.create_timer(1.0 / float(params["watchdog_rate_hz"]), self.check_watchdog)
        self.health.set_state(WARN, "waiting for the route")

    def buffered(self) -> dict[str, int]:
        with self.lock:
            return {**super().buffered(), "poses": len(self.poses), "road_users": len(self.users)}

    # --- inputs ------------------------------------------------------------------------------------

    def on_route(self, message: Path) -> None:
        try:
            route = route_to_xy(message)
        except ConversionError as error:
            self.reject("route", error)
            return
        with self.lock:
            self.planner = Planner(route, self.config)
        self.get_logger().info(f"route of {len(route)} points, {self.planner.frame.length:.0f} m")

    def on_odometry(self, message: Odometry) -> None:
        try:
            state = odometry_to_state(message)
        except ConversionError as error:
            self.reject("odometry", error)
            return
        self.health.on_input(self.now_s())
        order = self.check_order("odometry", state.stamp_ns)
        if order.skip:  # a repeated stamp is no sign of life for the watchdog either
            return
        yaw = yaw_of(state.pose)
        speed = float(np.hypot(state.linear_velocity[0], state.linear_velocity[1]))
        with self.lock:
            previous, previous_ns = self.ego, self.ego_stamp_ns
            accel = 0.0
            if previous is not None and state.stamp_ns > previous_ns:
                accel = (speed - previous.v) / ((state.stamp_ns - previous_ns) * 1e-9)
            self.ego = EgoState(
                float(state.pose[0, 3]), float(state.pose[1, 3]), yaw, speed, float(np.clip(accel, -8, 3))
            )
            if order is StampOrder.JUMP_BACK:  # forget earlier inputs
                self.users, self.grid, self.users_stamp_ns, self.grid_stamp_ns = [], None, -1, -1
                self.planned_stamp_ns = self.planned_users_stamp_ns = -1
                self.planned_at_s = float("-inf")
                self.windows.reset()
                self.poses.clear()
                if self.planner is not None:
                    self.planner.reset()
            self.ego_stamp_ns = state.stamp_ns
            self.ego_arrival_s = self.clock_s()
            self.ego_z = float(state.pose[2, 3])
            self.poses.add(state.stamp_ns, state.pose)
        self.watchdog.seen("odometry", self.clock_s())
        self.plan_if_ready()

    def on_objects(self, serialized: bytes) -> None:
        try:
            message = decode_raw(serialized, PredictedObjects)
            users = road_users(message, self.actions)
        except ConversionError as error:
            self.reject("objects", error)
            return
        if self.check_order("objects", stamp_to_ns(message.header.stamp)).skip:
            return
        with self.lock:
            self.users, self.users_stamp_ns = users, stamp_to_ns(message.header.stamp)
        self.watchdog.seen("objects", self.clock_s())
        self.plan_if_ready()

    def on_actions(self, message: Detection2DArray) -> None:
        self.actions = action_map(message)

    def on_points(self, message: PointCloud2) -> None:
        stamp_ns = stamp_to_ns(message.header.stamp)
        try:
            xyz, _ = pointcloud2_to_xyz(message, drop_invalid=False)
            labels = pointcloud2_field(message, "label", np.uint8)
            if not finite_rows(xyz).any():
                raise ConversionError("painted cloud has no finite point")
            check_train_ids(labels)
            lidar_in_base = self.tf.lookup(str(self.params["base_frame"]), message.header.frame_id)
        except (ConversionError, FrameNotFoundError, ValueError) as error:
            self.reject("painted_points", error)
            return
        if self.check_order("painted_points", stamp_ns).skip:
            return
        with self.lock:
            base_in_map = self.poses.at(stamp_ns)
        if base_in_map is None:
            self.reject("painted_points", "no odometry at the sweep's stamp")
            return
        points_map = transform_points(base_in_map @ lidar_in_base, xyz.astype(np.float64))
        with self.lock:
            boxes = [(u.xy[0], u.xy[1], u.yaw, u.length, u.width) for u in self.users]
        grid = build_grid(points_map, labels, float(base_in_map[2, 3]), base_in_map[:2, 3], self.grid_spec, boxes)
        with self.lock:
            self.grid, self.grid_stamp_ns = grid, stamp_ns
        self.grid_pub.publish(grid_to_message(grid, stamp_ns, float(base_in_map[2, 3])))
        self.watchdog.seen("painted_points", self.clock_s())
        self.plan_if_ready()

    def on_labels(self, _serialized: bytes) -> None:
        self.watchdog.seen("labels", self.clock_s())

    def on_diagnostics(self, message: DiagnosticArray) -> None:
        for status in message.status:
            node = status.name.removeprefix("kvision: ")
            if node in self.monitored:
                self.watchdog.node_status(node, status.level == ERROR, status.message)

    def clock_s(self) -> float:
        """The node's clock (simulated under use_sim_time), for input ages."""
        return self.get_clock().now().nanoseconds * 1e-9

    # --- planning ----------------------------------------------------------------------------------

    def plan_if_ready(self) -> None:
        """Plan when it is due (see the module's docstring) and no fault is pending; at most once per odometry."""
        sync_s = float(self.params["input_sync_s"])
        now_s = self.clock_s()
        with self.lock:
            if self.planner is None or self.ego is None or self.ego_stamp_ns <= self.planned_stamp_ns:
                return
            if not self._plan_due(now_s, sync_s):
                return
            if self.watchdog.problems(now_s):
                return  # the watchdog publishes the stop
            planner, ego, stamp_ns = self.planner, self.ego, self.ego_stamp_ns
            users, grid = self.users, self.grid
            self.planned_stamp_ns, self.planned_users_stamp_ns, self.planned_at_s = stamp_ns, self.users_stamp_ns, now_s
            self.windows.take(stamp_ns)
        started = time.perf_counter()
        try:
            plan = planner.plan(ego, users, grid, stamp_s=stamp_ns * 1e-9)
        except Exception as error:  # noqa: BLE001 - a planner bug must stop the vehicle, not kill the node
            self.on_planner_failure(planner, ego, stamp_ns, error)
            return
        self.publish_plan(plan, stamp_ns, ego)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        self.health.on_processed(elapsed_ms, self.now_s())
        if self.stopping:
            self.get_logger().info("inputs recovered: planning resumed")
            self.stopping = False
        if plan.behaviour is not self.behaviour:  # transitions only: a vehicle's log reads as the drive's story
            transition = f"{plan.behaviour.value} at {stamp_ns * 1e-9:.2f} s: {plan.reason}"
            if plan.behaviour is Behaviour.EMERGENCY_STOP:  # one severity per call site (rclpy)
                self.get_logger().warning(transition)
            else:
                self.get_logger().info(transition)
            self.behaviour = plan.behaviour
        level = WARN if plan.behaviour is Behaviour.EMERGENCY_STOP else OK
        self.health.set_state(level, f"{plan.behaviour.value}: {plan.reason}")
        self.health.set_value("behaviour", plan.behaviour.value)
        self.health.set_value("objects", len(users))
        self.health.set_value("collision_free_candidates", f"{plan.collision_free}/{plan.candidates}")

    def on_planner_failure(self, planner: Planner, ego: EgoState, stamp_ns: int, error: Exception) -> None:
        """The planner raised: stop in lane (the watchdog's stop, which does not search) and report ERROR;
        the next plan that succeeds clears it."""
        reason = f"planner failed: {type(error).__name__}: {error}"[:200]
        self.get_logger().error(reason, throttle_duration_sec=float(self.params["log_throttle_s"]))
        self.get_logger().debug(traceback.format_exc())
        self.publish_stop(planner, ego, stamp_ns, reason, reason)

    def publish_stop(self, planner: Planner, ego: EgoState, stamp_ns: int, reason: str, state: str) -> None:
        """A controlled stop in lane, reported as ERROR with ``state``."""
        self.health.set_state(ERROR, state)
        self.health.set_value("behaviour", Behaviour.SAFE_STOP.value)
        self.behaviour = Behaviour.SAFE_STOP
        self.publish_plan(planner.stop_plan(ego, reason), stamp_ns, ego)

    def _plan_due(self, now_s: float, sync_s: float) -> bool:
        """Whether the newest odometry should get a plan now (called with the lock held)."""
        if self.windows.period_ns:  # on a vehicle: new objects are planned with at once, else odometry paces
            if self.users_stamp_ns > self.planned_users_stamp_ns:
                return True
            return self.windows.open(self.ego_stamp_ns) and now_s - self.planned_at_s >= sync_s
        sync_ns = round(sync_s * 1e9)  # lockstep: the perception of this very instant, or the wait is over
        behind = self.users_stamp_ns < self.ego_stamp_ns - sync_ns
        behind |= self.use_grid and self.grid_stamp_ns < self.ego_stamp_ns - sync_ns
        return not behind or now_s - self.ego_arrival_s >= sync_s

    def check_watchdog(self) -> None:
        problems = self.watchdog.problems(self.clock_s())
        with self.lock:
            planner, ego, stamp_ns = self.planner, self.ego, self.ego_stamp_ns
        if not problems or planner is None or ego is None:
            if planner is None:
                self.health.set_state(WARN, "waiting for the route")
            else:
                self.plan_if_ready()  # a plan whose wait for perception is over
            return
        reason = "; ".join(problems)
        if not self.stopping:
            self.get_logger().error(f"safe stop: {reason}")
            self.stopping = True
        self.publish_stop(planner, ego, stamp_ns, reason, f"safe stop: {reason}")

    def publish_plan(self, plan: Plan, stamp_ns: int, ego: EgoState) -> None:
        z = self.ego_z
        self.trajectory_pub.publish(plan_to_path(plan, stamp_ns, z))
        if self.listened(self.markers_pub):
            self.markers_pub.publish(plan_markers(plan, stamp_ns, ego.xy, z))


def make_node() -> Node:
    return PlanningNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
