"""Planning messages <-> the ROS-free planning types: predicted objects, actions, route, trajectory, grid."""

from __future__ import annotations

import array

import numpy as np
from autoware_perception_msgs.msg import PredictedObjects
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, PoseStamped
from nav_msgs.msg import OccupancyGrid as OccupancyGridMsg
from nav_msgs.msg import Path
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection2DArray
from visualization_msgs.msg import Marker, MarkerArray

from kvision_driving.core.geometry import quaternion_yaws
from kvision_driving.planning.occupancy import OccupancyGrid
from kvision_driving.planning.planner import Behaviour, Plan
from kvision_driving.planning.scene import PredictedPath, RoadUser
from kvision_driving.ros.convert import ConversionError, make_header, ns_to_stamp
from kvision_driving.ros.object_messages import KIND_OF_LABEL, pose_of

MAX_OBJECTS = 500
MAX_PATH_POINTS = 1000


def _yaw(orientation: object) -> float:
    return float(quaternion_yaws([(orientation.x, orientation.y, orientation.z, orientation.w)])[0])


def duration_s(duration: Duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


def route_to_xy(message: Path) -> np.ndarray:
    """A route (nav_msgs/Path in map) as (N, 2); at least two distinct finite points."""
    if message.header.frame_id not in ("map", ""):
        raise ConversionError(f"route must be in the map frame, got {message.header.frame_id!r}")
    xy = np.array([[pose.pose.position.x, pose.pose.position.y] for pose in message.poses], dtype=np.float64)
    if len(xy) < 2 or not np.all(np.isfinite(xy)):
        raise ConversionError(f"route needs at least two finite points, got {len(xy)}")
    if np.all(np.linalg.norm(xy - xy[0], axis=1) < 1e-3):
        raise ConversionError("route points are all the same")
    return xy


def action_map(message: Detection2DArray) -> dict[str, str]:
    """Object UUID hex -> the most likely recognised action (detections without results are skipped)."""
    out = {}
    for detection in message.detections:
        if detection.results:
            best = max(detection.results, key=lambda result: result.hypothesis.score)
            out[detection.id] = best.hypothesis.class_id
    return out


def road_users(message: PredictedObjects, actions: dict[str, str]) -> list[RoadUser]:
    """Predicted objects (map frame) as road users; objects with non-finite poses or sizes are an error.
    ``message`` is rclpy's or rosbags' (``decode_raw``): both have the same fields."""
    if message.header.frame_id not in ("map", ""):
        raise ConversionError(f"predicted objects must be in the map frame, got {message.header.frame_id!r}")
    if len(message.objects) > MAX_OBJECTS:
        raise ConversionError(f"{len(message.objects)} predicted objects: more than {MAX_OBJECTS} is not a scene")
    users = []
    for obj in message.objects:
        uuid = bytes(obj.object_id.uuid).hex()
        kinematics = obj.kinematics
        pose = kinematics.initial_pose_with_covariance.pose
        size = obj.shape.dimensions
        values = (
            pose.position.x,
            pose.position.y,
            size.x,
            size.y,
            kinematics.initial_twist_with_covariance.twist.linear.x,
        )
        if not np.all(np.isfinite(values)) or size.x <= 0 or size.y <= 0:
            raise ConversionError(f"object {uuid[:8]}: non-finite or empty pose, size or speed")
        label = max(obj.classification, key=lambda item: item.probability).label if obj.classification else 0
        paths = []
        for path in kinematics.predicted_paths:
            if not path.path or len(path.path) > MAX_PATH_POINTS:
                continue
            step = duration_s(path.time_step)
            # One pass over the poses, then vectorised: message fields are slow Python attribute reads.
            poses = np.array(
                [
                    (p.position.x, p.position.y, p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w)
                    for p in path.path
                ]
            )
            try:
                yaw = quaternion_yaws(poses[:, 2:])
            except ValueError as error:
                raise ConversionError(f"object {uuid[:8]}: a predicted path pose: {error}") from error
            if step <= 0 or not np.all(np.isfinite(poses[:, :2])):
                raise ConversionError(f"object {uuid[:8]}: a predicted path with a bad time step or points")
            paths.append(PredictedPath(poses[:, :2].copy(), yaw, step, float(path.confidence)))
        users.append(
            RoadUser(
                object_id=uuid,
                kind=KIND_OF_LABEL.get(label, "unknown"),
                xy=np.array([pose.position.x, pose.position.y]),
                yaw=_yaw(pose.orientation),
                length=float(size.x),
                width=float(size.y),
                speed=float(values[4]),
                action=actions.get(uuid, "unknown"),
                paths=tuple(paths),
            )
        )
    return users


def plan_to_path(plan: Plan, stamp_ns: int, z: float = 0.0) -> Path:
    """A plan as nav_msgs/Path in map: each pose's stamp is when to be there (speed is implied)."""
    message = Path(header=make_header(stamp_ns, "map"))
    for t, (x, y), yaw in zip(plan.t, plan.xy, plan.yaw, strict=True):
        message.poses.append(
            PoseStamped(header=make_header(stamp_ns + round(t * 1e9), "map"), pose=pose_of(x, y, z, yaw))
        )
    return message


def grid_to_message(grid: OccupancyGrid, stamp_ns: int, z: float = 0.0) -> OccupancyGridMsg:
    message = OccupancyGridMsg(header=make_header(stamp_ns, "map"))
    rows, cols = grid.cells.shape
    message.info.map_load_time = ns_to_stamp(stamp_ns)
    message.info.resolution = float(grid.resolution)
    message.info.width, message.info.height = cols, rows
    message.info.origin = pose_of(grid.origin[0], grid.origin[1], z, 0.0)
    message.data = array.array("b", grid.cells.tobytes())  # the setter's fast path; a list is checked per cell
    return message


BEHAVIOUR_COLOURS = {
    Behaviour.CRUISE: (0.2, 0.8, 0.2),
    Behaviour.FOLLOW: (0.2, 0.6, 1.0),
    Behaviour.STOP_FOR_OBSTACLE: (1.0, 0.6, 0.0),
    Behaviour.YIELD_PEDESTRIAN: (1.0, 0.8, 0.0),
    Behaviour.PASS_BLOCKED_LANE: (0.7, 0.3, 1.0),
    Behaviour.EMERGENCY_STOP: (1.0, 0.0, 0.0),
    Behaviour.SAFE_STOP: (1.0, 0.0, 0.0),
}


def plan_markers(plan: Plan, stamp_ns: int, ego_xy: np.ndarray, z: float = 0.0) -> MarkerArray:
    """The trajectory as a line coloured by behaviour, and the behaviour with its reason above ego."""
    header: Header = make_header(stamp_ns, "map")
    colour = ColorRGBA(
        r=BEHAVIOUR_COLOURS[plan.behaviour][0],
        g=BEHAVIOUR_COLOURS[plan.behaviour][1],
        b=BEHAVIOUR_COLOURS[plan.behaviour][2],
        a=1.0,
    )
    line = Marker(header=header, ns="trajectory", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    line.scale.x = 0.4
    line.color = colour
    line.pose.orientation.w = 1.0
    line.points = [Point(x=float(x), y=float(y), z=z + 0.2) for x, y in plan.xy]
    line.lifetime = Duration(sec=1)
    text = Marker(header=header, ns="behaviour", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
    text.pose = pose_of(ego_xy[0], ego_xy[1], z + 3.0, 0.0)
    text.scale.z = 1.0
    text.color = colour
    text.text = f"{plan.behaviour.value}: {plan.reason}"
    text.lifetime = Duration(sec=1)
    return MarkerArray(markers=[line, text])
