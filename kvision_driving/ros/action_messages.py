"""Action and prediction messages: tracked objects in, recognised actions and predicted objects out."""

from __future__ import annotations

import numpy as np
from autoware_perception_msgs.msg import PredictedObject, PredictedObjects, PredictedPath, TrackedObjects
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from kvision_driving.core.geometry import planar_yaw
from kvision_driving.perception.clips import ActionEstimate, TrackView
from kvision_driving.perception.prediction import STEP_S, Hypothesis
from kvision_driving.ros.convert import ConversionError
from kvision_driving.ros.object_messages import KIND_OF_LABEL, pose_of

# Predicted paths go out at this time step (the prediction computes them at STEP_S). Each pose is a dozen
# Python objects to build, serialise and parse again in planning: 0.2 s halves that against 0.1 s, and
# linear interpolation between poses stays within about 3 cm of the path (a car at 10 m/s on a 20 m radius).
MESSAGE_STEP_S = 0.2


def track_views(message: TrackedObjects) -> list[TrackView]:
    """Tracked objects (map frame) as the recogniser sees them: box, kind and ground velocity in map."""
    views = []
    for obj in message.objects:
        pose = obj.kinematics.pose_with_covariance.pose
        yaw = planar_yaw(pose.orientation)
        twist = obj.kinematics.twist_with_covariance.twist.linear  # object frame (Autoware convention)
        c, s = np.cos(yaw), np.sin(yaw)
        velocity = np.array([c * twist.x - s * twist.y, s * twist.x + c * twist.y])
        size = (obj.shape.dimensions.x, obj.shape.dimensions.y, obj.shape.dimensions.z)
        centre = np.array([pose.position.x, pose.position.y, pose.position.z])
        if not (np.all(np.isfinite(centre)) and np.all(np.isfinite(velocity)) and np.all(np.isfinite(size))):
            raise ConversionError(f"tracked object {bytes(obj.object_id.uuid).hex()[:8]}: non-finite pose or twist")
        if min(size) <= 0:
            raise ConversionError(f"tracked object {bytes(obj.object_id.uuid).hex()[:8]}: empty box")
        label = max(obj.classification, key=lambda item: item.probability).label if obj.classification else 0
        views.append(
            TrackView(
                bytes(obj.object_id.uuid).hex(),
                KIND_OF_LABEL.get(label, "unknown"),
                centre,
                yaw,
                (float(size[0]), float(size[1]), float(size[2])),
                velocity,
            )
        )
    return views


def action_detections(estimates: dict[str, ActionEstimate], header: Header) -> Detection2DArray:
    """vision_msgs/Detection2DArray in the camera frame: one detection per track with an image box, ``id`` =
    the track UUID hex, results = every allowed action with its score (``unknown`` while the clip fills)."""
    message = Detection2DArray(header=header)
    for track_id, estimate in sorted(estimates.items()):
        if estimate.box is None:
            continue
        u0, v0, u1, v1 = estimate.box
        detection = Detection2D(header=header, id=track_id)
        detection.bbox.center.position.x, detection.bbox.center.position.y = (u0 + u1) / 2, (v0 + v1) / 2
        detection.bbox.size_x, detection.bbox.size_y = float(u1 - u0), float(v1 - v0)
        scores = estimate.scores or {estimate.action: 0.0}
        for action, score in sorted(scores.items(), key=lambda item: -item[1]):
            hypothesis = ObjectHypothesisWithPose()
            hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = action, float(score)
            detection.results.append(hypothesis)
        message.detections.append(detection)
    return message


def predicted_objects(
    tracked: TrackedObjects, hypotheses: dict[str, list[Hypothesis]], header: Header
) -> PredictedObjects:
    """The tracked objects with their predicted paths (autoware_perception_msgs/PredictedObjects, map).

    Autoware's convention: a path's first pose is the object now, pose i is i * time_step later."""
    every = round(MESSAGE_STEP_S / STEP_S)
    message = PredictedObjects(header=header)
    for obj in tracked.objects:
        track_id = bytes(obj.object_id.uuid).hex()
        predicted = PredictedObject(object_id=obj.object_id, existence_probability=obj.existence_probability)
        predicted.classification = obj.classification
        predicted.shape = obj.shape
        kinematics = predicted.kinematics
        kinematics.initial_pose_with_covariance = obj.kinematics.pose_with_covariance
        kinematics.initial_twist_with_covariance = obj.kinematics.twist_with_covariance
        kinematics.initial_acceleration_with_covariance = obj.kinematics.acceleration_with_covariance
        now = obj.kinematics.pose_with_covariance.pose
        for hypothesis in hypotheses.get(track_id, [])[:10]:  # the message holds at most 10 paths
            path = PredictedPath(
                time_step=Duration(sec=0, nanosec=round(MESSAGE_STEP_S * 1e9)), confidence=hypothesis.confidence
            )
            # hypothesis.xy starts STEP_S from now: its (every - 1)-th point is MESSAGE_STEP_S from now.
            later = range(every - 1, len(hypothesis.xy), every)
            path.path = [now] + [
                pose_of(hypothesis.xy[k, 0], hypothesis.xy[k, 1], now.position.z, hypothesis.yaw[k]) for k in later
            ]
            kinematics.predicted_paths.append(path)
        message.objects.append(predicted)
    return message


def prediction_markers(
    tracks: list[TrackView],
    hypotheses: dict[str, list[Hypothesis]],
    actions: dict[str, ActionEstimate],
    header: Header,
) -> MarkerArray:
    """Predicted paths as lines (thicker = likelier) and the recognised action as text over each object."""
    markers = [
        Marker(header=header, ns="predicted_paths", action=Marker.DELETEALL),
        Marker(header=header, ns="actions", action=Marker.DELETEALL),
    ]
    for index, track in enumerate(tracks):
        for rank, hypothesis in enumerate(hypotheses.get(track.track_id, [])):
            line = Marker(header=header, ns="predicted_paths", id=index * 10 + rank, type=Marker.LINE_STRIP)
            line.pose.orientation.w = 1.0
            line.scale.x = 0.1 + 0.3 * hypothesis.confidence
            line.color = ColorRGBA(r=1.0, g=0.4, b=0.8, a=float(0.3 + 0.7 * hypothesis.confidence))
            line.points = [Point(x=float(track.centre[0]), y=float(track.centre[1]), z=float(track.centre[2]))] + [
                Point(x=float(x), y=float(y), z=float(track.centre[2])) for x, y in hypothesis.xy
            ]
            markers.append(line)
        estimate = actions.get(track.track_id)
        if estimate is not None:
            text = Marker(header=header, ns="actions", id=index, type=Marker.TEXT_VIEW_FACING)
            text.pose = pose_of(track.centre[0], track.centre[1], track.centre[2] + track.size[2] / 2 + 1.2, 0.0)
            text.scale.z = 0.7
            text.color = ColorRGBA(r=1.0, g=0.9, b=0.2, a=1.0)
            text.text = f"{estimate.action} {estimate.confidence:.2f}" if estimate.scores else estimate.action
            markers.append(text)
    return MarkerArray(markers=markers)
