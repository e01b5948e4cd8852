"""Detections and tracks as autoware_perception_msgs, and RViz markers for them."""

from __future__ import annotations

import numpy as np
from autoware_perception_msgs.msg import (
    DetectedObject,
    DetectedObjectKinematics,
    DetectedObjects,
    ObjectClassification,
    Shape,
    TrackedObject,
    TrackedObjectKinematics,
    TrackedObjects,
)
from geometry_msgs.msg import Point, Pose
from std_msgs.msg import ColorRGBA, Header
from unique_identifier_msgs.msg import UUID
from visualization_msgs.msg import Marker, MarkerArray

from kvision_driving.perception.objects import Detection
from kvision_driving.perception.tracking import Track

CLASSIFICATION = {
    "car": ObjectClassification.CAR,
    "truck": ObjectClassification.TRUCK,
    "bus": ObjectClassification.BUS,
    "bicycle": ObjectClassification.BICYCLE,
    "motorcycle": ObjectClassification.MOTORCYCLE,
    "pedestrian": ObjectClassification.PEDESTRIAN,
}
KIND_OF_LABEL = {label: kind for kind, label in CLASSIFICATION.items()}
COLOURS = {
    "car": (0.2, 0.5, 1.0),
    "truck": (0.6, 0.3, 0.9),
    "bus": (0.6, 0.3, 0.9),
    "bicycle": (1.0, 0.8, 0.1),
    "motorcycle": (1.0, 0.8, 0.1),
    "pedestrian": (1.0, 0.2, 0.2),
}


def classification(kind: str, probability: float) -> list[ObjectClassification]:
    return [ObjectClassification(label=CLASSIFICATION[kind], probability=float(probability))]


def pose_of(x: float, y: float, z: float, yaw: float) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = float(x), float(y), float(z)
    pose.orientation.z, pose.orientation.w = float(np.sin(yaw / 2)), float(np.cos(yaw / 2))
    return pose


def box_shape(size: tuple[float, float, float]) -> Shape:
    shape = Shape(type=Shape.BOUNDING_BOX)
    shape.dimensions.x, shape.dimensions.y, shape.dimensions.z = (float(v) for v in size)
    return shape


def detected_objects(detections: list[Detection], header: Header) -> DetectedObjects:
    message = DetectedObjects(header=header)
    for detection in detections:
        kinematics = DetectedObjectKinematics(orientation_availability=DetectedObjectKinematics.SIGN_UNKNOWN)
        kinematics.pose_with_covariance.pose = pose_of(*detection.centre, detection.yaw)
        kinematics.has_position_covariance = False
        message.objects.append(
            DetectedObject(
                existence_probability=float(detection.confidence),
                classification=classification(detection.kind, detection.confidence),
                kinematics=kinematics,
                shape=box_shape(detection.size),
            )
        )
    return message


def tracked_objects(tracks: list[Track], header: Header) -> TrackedObjects:
    message = TrackedObjects(header=header)
    for track in tracks:
        kinematics = TrackedObjectKinematics(orientation_availability=TrackedObjectKinematics.SIGN_UNKNOWN)
        kinematics.pose_with_covariance.pose = pose_of(track.state[0], track.state[1], track.z, track.yaw)
        covariance = np.zeros((6, 6))
        covariance[:2, :2] = track.covariance[:2, :2]
        kinematics.pose_with_covariance.covariance = covariance.ravel().tolist()
        # Autoware convention: twist in the object's own frame (x along its heading).
        c, s = np.cos(track.yaw), np.sin(track.yaw)
        vx, vy = track.state[2], track.state[3]
        kinematics.twist_with_covariance.twist.linear.x = float(c * vx + s * vy)
        kinematics.twist_with_covariance.twist.linear.y = float(-s * vx + c * vy)
        twist_covariance = np.zeros((6, 6))
        twist_covariance[:2, :2] = track.covariance[2:, 2:]
        kinematics.twist_with_covariance.covariance = twist_covariance.ravel().tolist()
        kinematics.is_stationary = track.speed < 0.3
        message.objects.append(
            TrackedObject(
                object_id=UUID(uuid=list(track.track_id)),
                existence_probability=float(track.confidence),
                classification=classification(track.kind, track.confidence),
                kinematics=kinematics,
                shape=box_shape(track.size),
            )
        )
    return message


def track_markers(tracks: list[Track], header: Header, namespace: str = "tracks") -> MarkerArray:
    """Boxes in class colours, id and speed text, velocity arrows; the previous frame's markers are cleared."""
    markers = [Marker(header=header, ns=namespace, action=Marker.DELETEALL)]
    for index, track in enumerate(tracks):
        r, g, b = COLOURS.get(track.kind, (0.8, 0.8, 0.8))
        box = Marker(header=header, ns=namespace, id=3 * index, type=Marker.CUBE, action=Marker.ADD)
        box.pose = pose_of(track.state[0], track.state[1], track.z, track.yaw)
        box.scale.x, box.scale.y, box.scale.z = (float(v) for v in track.size)
        box.color = ColorRGBA(r=r, g=g, b=b, a=0.45)
        text = Marker(header=header, ns=namespace, id=3 * index + 1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        text.pose = pose_of(track.state[0], track.state[1], track.z + track.size[2] / 2 + 0.6, 0.0)
        text.scale.z = 0.6
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        text.text = f"{track.kind} {track.track_id.hex()[:6]} {track.speed:.1f} m/s"
        arrow = Marker(header=header, ns=namespace, id=3 * index + 2, type=Marker.ARROW, action=Marker.ADD)
        start = Point(x=float(track.state[0]), y=float(track.state[1]), z=float(track.z))
        end = Point(
            x=float(track.state[0] + track.state[2]), y=float(track.state[1] + track.state[3]), z=float(track.z)
        )
        arrow.points = [start, end]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.15, 0.3, 0.3
        arrow.color = ColorRGBA(r=r, g=g, b=b, a=1.0)
        markers += [box, text, arrow]
    return MarkerArray(markers=markers)
