"""Simulator frames as ROS messages: sensors, localisation, tf and ground truth, by topic.

Used by ``kvision sim record`` (into a bag) and by ``sim_node`` (live). Every message of a frame
carries the frame's simulated stamp.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from autoware_perception_msgs.msg import (
    ObjectClassification,
    PredictedObject,
    PredictedObjects,
    PredictedPath,
    Shape,
    TrackedObject,
    TrackedObjectKinematics,
    TrackedObjects,
)
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import Path as PathMsg
from rosgraph_msgs.msg import Clock
from tf2_msgs.msg import TFMessage
from unique_identifier_msgs.msg import UUID
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from kvision_driving.core.boxes import box_corners_3d
from kvision_driving.core.camera import project_box_to_image
from kvision_driving.core.geometry import invert_transform, make_transform, transform_points
from kvision_driving.ros.convert import (
    OdometryState,
    array_to_pointcloud2,
    make_header,
    matrix_to_transform_stamped,
    ns_to_stamp,
    numpy_to_image,
    pinhole_to_camera_info,
    state_to_odometry,
)
from kvision_driving.sim.actors import FUTURE_STEP_S
from kvision_driving.sim.simulator import GroundTruthObject, SimFrame, Simulator

MAP_FRAME, BASE_FRAME = "map", "base_link"
CLASSIFICATION = {
    "car": ObjectClassification.CAR,
    "truck": ObjectClassification.TRUCK,
    "bicycle": ObjectClassification.BICYCLE,
    "pedestrian": ObjectClassification.PEDESTRIAN,
}
MIN_VISIBLE_PIXELS = 30  # an actor less visible than this in the camera gets no ground-truth action box


def camera_topic(name: str, leaf: str) -> str:
    return f"/sensing/camera/{name}/{leaf}"


def lidar_topic(name: str) -> str:
    return f"/sensing/lidar/{name}/points"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    message: object
    qos: str  # sensor_data | reliable | latched


def object_uuid(scenario: str, seed: int, actor_id: int) -> bytes:
    """A stable UUID per actor of a run (the same in every recording of the same scenario and seed)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kvision-sim/{scenario}/{seed}/{actor_id}").bytes


def _pose(x: float, y: float, z: float, yaw: float) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = float(x), float(y), float(z)
    pose.orientation.z, pose.orientation.w = float(np.sin(yaw / 2)), float(np.cos(yaw / 2))
    return pose


class SimMessages:
    def __init__(self, simulator: Simulator) -> None:
        self.sim = simulator

    def uuid_of(self, actor_id: int) -> bytes:
        return object_uuid(self.sim.scenario.name, self.sim.scenario.seed, actor_id)

    # --- once per run -------------------------------------------------------------------------------

    def static(self, stamp_ns: int) -> list[Outgoing]:
        transforms = [
            matrix_to_transform_stamped(extrinsic, BASE_FRAME, frame, stamp_ns)
            for frame, extrinsic in self.sim.sensor_extrinsics().items()
        ]
        route = PathMsg(header=make_header(stamp_ns, MAP_FRAME))
        xy, heading = self.sim.route.pose(np.arange(0.0, self.sim.route.length, 1.0))
        route.poses = [
            PoseStamped(header=route.header, pose=_pose(p[0], p[1], 0.0, h)) for p, h in zip(xy, heading, strict=True)
        ]
        return [
            Outgoing("/tf_static", TFMessage(transforms=transforms), "latched"),
            Outgoing("/planning/route", route, "latched"),
        ]

    # --- every frame --------------------------------------------------------------------------------

    def frame(self, frame: SimFrame) -> list[Outgoing]:
        stamp = frame.stamp_ns
        ego = frame.ego
        ego_pose = make_transform(
            np.array([[np.cos(ego.yaw), -np.sin(ego.yaw), 0], [np.sin(ego.yaw), np.cos(ego.yaw), 0], [0, 0, 1]]),
            [ego.x, ego.y, 0.0],
        )
        out = [Outgoing("/clock", Clock(clock=ns_to_stamp(stamp)), "reliable")]
        odometry = state_to_odometry(
            OdometryState(
                stamp,
                MAP_FRAME,
                BASE_FRAME,
                ego_pose,
                np.array([ego.v, 0.0, 0.0]),
                np.array([0.0, 0.0, ego.v * np.tan(ego.steer) / 2.8]),
            )
        )
        out.append(Outgoing("/localization/odometry", odometry, "reliable"))
        out.append(
            Outgoing(
                "/tf",
                TFMessage(transforms=[matrix_to_transform_stamped(ego_pose, MAP_FRAME, BASE_FRAME, stamp)]),
                "reliable",
            )
        )
        for spec in self.sim.camera_specs:
            image = frame.cameras.get(spec.name)
            if image is None:
                continue
            header = make_header(stamp, spec.frame_id)
            out.append(
                Outgoing(camera_topic(spec.name, "image_raw"), numpy_to_image(image.rgb, "rgb8", header), "sensor_data")
            )
            out.append(
                Outgoing(
                    camera_topic(spec.name, "camera_info"),
                    pinhole_to_camera_info(spec.intrinsics(), header),
                    "sensor_data",
                )
            )
            out.append(
                Outgoing(
                    f"/ground_truth/camera/{spec.name}/labels",
                    numpy_to_image(image.labels, "mono8", header),
                    "reliable",
                )
            )
        if frame.lidar is not None and self.sim.lidar_spec is not None:
            header = make_header(stamp, self.sim.lidar_spec.frame_id)
            sensor_fields = frame.lidar[["x", "y", "z", "intensity", "ring"]]
            out.append(
                Outgoing(
                    lidar_topic(self.sim.lidar_spec.name),
                    array_to_pointcloud2(_packed(sensor_fields), header),
                    "sensor_data",
                )
            )
            out.append(
                Outgoing(
                    f"/ground_truth/lidar/{self.sim.lidar_spec.name}/points",
                    array_to_pointcloud2(frame.lidar, header),
                    "reliable",
                )
            )
        header = make_header(stamp, MAP_FRAME)
        out.append(Outgoing("/ground_truth/objects/tracked", self.tracked_objects(frame.objects, header), "reliable"))
        out.append(
            Outgoing("/ground_truth/objects/predicted", self.predicted_objects(frame.objects, header), "reliable")
        )
        if self.sim.camera_specs:
            out.append(Outgoing("/ground_truth/actions", self.actions(frame, ego_pose), "reliable"))
        return out

    def _classification(self, obj: GroundTruthObject) -> list[ObjectClassification]:
        return [ObjectClassification(label=CLASSIFICATION[obj.kind], probability=1.0)]

    def _shape(self, obj: GroundTruthObject) -> Shape:
        shape = Shape(type=Shape.BOUNDING_BOX)
        shape.dimensions.x, shape.dimensions.y, shape.dimensions.z = (float(v) for v in obj.size)
        return shape

    def tracked_objects(self, objects: list[GroundTruthObject], header: object) -> TrackedObjects:
        message = TrackedObjects(header=header)
        for obj in objects:
            kinematics = TrackedObjectKinematics(orientation_availability=TrackedObjectKinematics.AVAILABLE)
            kinematics.pose_with_covariance.pose = _pose(*obj.centre, obj.yaw)
            kinematics.twist_with_covariance.twist.linear.x = float(np.linalg.norm(obj.velocity))  # object frame
            kinematics.is_stationary = bool(np.linalg.norm(obj.velocity) < 0.1)
            message.objects.append(
                TrackedObject(
                    object_id=UUID(uuid=list(self.uuid_of(obj.actor_id))),
                    existence_probability=1.0,
                    classification=self._classification(obj),
                    kinematics=kinematics,
                    shape=self._shape(obj),
                )
            )
        return message

    def predicted_objects(self, objects: list[GroundTruthObject], header: object) -> PredictedObjects:
        message = PredictedObjects(header=header)
        for obj in objects:
            predicted = PredictedObject(
                object_id=UUID(uuid=list(self.uuid_of(obj.actor_id))), existence_probability=1.0
            )
            predicted.classification = self._classification(obj)
            predicted.shape = self._shape(obj)
            kinematics = predicted.kinematics
            kinematics.initial_pose_with_covariance.pose = _pose(*obj.centre, obj.yaw)
            kinematics.initial_twist_with_covariance.twist.linear.x = float(np.linalg.norm(obj.velocity))
            # Autoware's convention: the first pose is the object now, pose i is i * time_step later.
            path = PredictedPath(time_step=Duration(sec=0, nanosec=round(FUTURE_STEP_S * 1e9)), confidence=1.0)
            path.path = [kinematics.initial_pose_with_covariance.pose] + [
                _pose(x, y, obj.centre[2], yaw) for x, y, yaw in obj.future
            ]
            kinematics.predicted_paths = [path]
            message.objects.append(predicted)
        return message

    def actions(self, frame: SimFrame, ego_pose: np.ndarray) -> Detection2DArray:
        """Image box and action of every actor visible in the first camera (vision_msgs, id = UUID hex)."""
        spec = self.sim.camera_specs[0]
        image = frame.cameras.get(spec.name)
        header = make_header(frame.stamp_ns, spec.frame_id)
        message = Detection2DArray(header=header)
        if image is None:
            return message
        map_to_optical = invert_transform(ego_pose @ spec.optical_in_base())
        camera = spec.intrinsics()
        for obj in frame.objects:
            box = image_box(obj, map_to_optical, camera)
            if box is None:
                continue
            u0, v0, u1, v1 = (round(value) for value in box)
            if np.count_nonzero(image.instances[v0:v1, u0:u1] == obj.actor_id) < MIN_VISIBLE_PIXELS:
                continue  # occluded or out of view
            detection = Detection2D(header=header, id=self.uuid_of(obj.actor_id).hex())
            detection.bbox.center.position.x, detection.bbox.center.position.y = (u0 + u1) / 2, (v0 + v1) / 2
            detection.bbox.size_x, detection.bbox.size_y = float(u1 - u0), float(v1 - v0)
            hypothesis = ObjectHypothesisWithPose()
            hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = obj.action, 1.0
            detection.results = [hypothesis]
            message.detections.append(detection)
        return message


def image_box(
    obj: GroundTruthObject, map_to_optical: np.ndarray, camera: object
) -> tuple[float, float, float, float] | None:
    corners = transform_points(map_to_optical, box_corners_3d(obj.centre, obj.yaw, obj.size))
    return project_box_to_image(corners, camera)


def _packed(points: np.ndarray) -> np.ndarray:
    """A field subset of a structured array, repacked without the gaps of the dropped fields."""
    packed = np.empty(len(points), dtype=[(name, points.dtype.fields[name][0]) for name in points.dtype.names])
    for name in points.dtype.names:
        packed[name] = points[name]
    return packed
