"""``kvision eval actions BAG`` and ``kvision eval prediction BAG`` on a recorded simulator bag.

Both replay the bag's camera frames with the ground-truth tracks (exact boxes and ids, so the scores
measure the recogniser and the predictor, not the tracker) and compare with the ground truth in the
same bag: the action of every road user the camera sees (/ground_truth/actions) and its true future
(/ground_truth/objects/predicted, 3 s at 0.1 s).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.actions import ACTIONS, UNKNOWN_ACTION
from kvision_driving.core.frames import PoseHistory, StaticFrameTree
from kvision_driving.core.geometry import finite_rows, invert_transform, planar_yaw, yaw_of
from kvision_driving.data.bags import read_messages
from kvision_driving.data.messages import (
    camera_info_to_pinhole,
    image_to_numpy,
    odometry_to_state,
    stamp_to_ns,
    transform_stamped_to_matrix,
)
from kvision_driving.eval.paths import path_xy_at
from kvision_driving.perception.clips import ActionRecogniser, TrackView
from kvision_driving.perception.prediction import (
    MotionState,
    constant_velocity,
    displacement_errors,
    future_times,
    predict,
)

KIND_OF_LABEL = {1: "car", 2: "truck", 3: "bus", 5: "motorcycle", 6: "bicycle", 7: "pedestrian"}
CAMERA_TOPIC = "/sensing/camera/front/image_raw"
HISTORY_S = 1.5


@dataclass(frozen=True)
class TruthObject:
    object_id: str
    kind: str
    centre: NDArray[np.float64]  # (3,) map
    yaw: float
    size: tuple[float, float, float]
    velocity: NDArray[np.float64]  # (2,) map
    future: NDArray[np.float64]  # (K, 2) map, at future_times() (STEP_S apart, the first STEP_S after the stamp)


@dataclass(frozen=True)
class TruthFrame:
    stamp_ns: int
    image: NDArray[np.uint8]  # RGB
    camera: Any
    map_to_optical: NDArray[np.float64]
    base_in_map: NDArray[np.float64]
    objects: list[TruthObject]
    actions: dict[str, str]  # object id -> true action, for the road users the camera sees


def _truth_objects(message: Any) -> list[TruthObject]:
    out = []
    for obj in message.objects:
        kinematics = obj.kinematics
        pose = kinematics.initial_pose_with_covariance.pose
        yaw = planar_yaw(pose.orientation)
        speed = float(kinematics.initial_twist_with_covariance.twist.linear.x)
        future = np.zeros((0, 2))
        if kinematics.predicted_paths:  # at the prediction's own times, where the truth covers them
            future = path_xy_at(kinematics.predicted_paths[0], future_times())
            future = future[finite_rows(future)]
        label = obj.classification[0].label if obj.classification else 0
        dims = obj.shape.dimensions
        out.append(
            TruthObject(
                bytes(obj.object_id.uuid).hex(),
                KIND_OF_LABEL.get(label, "car"),
                np.array([pose.position.x, pose.position.y, pose.position.z]),
                yaw,
                (float(dims.x), float(dims.y), float(dims.z)),
                speed * np.array([np.cos(yaw), np.sin(yaw)]),
                future,
            )
        )
    return out


def truth_frames(bag: Path) -> Iterator[TruthFrame]:
    """Camera frames of a simulator bag with the ground truth of the same stamp."""
    tree, poses = StaticFrameTree(), PoseHistory()
    camera = None
    objects: dict[int, list[TruthObject]] = {}
    actions: dict[int, dict[str, str]] = {}
    pending: list[Any] = []
    topics = {
        "/tf_static",
        "/localization/odometry",
        "/sensing/camera/front/camera_info",
        CAMERA_TOPIC,
        "/ground_truth/objects/predicted",
        "/ground_truth/actions",
    }
    for topic, _, message in read_messages(bag, topics, require=True):
        if topic == "/tf_static":
            for transform in message.transforms:
                tree.add(*transform_stamped_to_matrix(transform))
        elif topic == "/localization/odometry":
            state = odometry_to_state(message)
            poses.add(state.stamp_ns, state.pose)
        elif topic == "/sensing/camera/front/camera_info":
            camera = camera_info_to_pinhole(message)
        elif topic == "/ground_truth/objects/predicted":
            objects[stamp_to_ns(message.header.stamp)] = _truth_objects(message)
        elif topic == "/ground_truth/actions":
            actions[stamp_to_ns(message.header.stamp)] = {
                d.id: d.results[0].hypothesis.class_id for d in message.detections if d.results
            }
        elif topic == CAMERA_TOPIC:
            pending.append(message)
        # A camera frame is complete once its stamp's ground truth has been read.
        while pending:
            stamp = stamp_to_ns(pending[0].header.stamp)
            if stamp not in objects or stamp not in actions:
                break
            image_message = pending.pop(0)
            base_in_map = poses.at(stamp)
            if camera is None or base_in_map is None:
                continue
            optical_in_base = tree.lookup("base_link", image_message.header.frame_id)
            yield TruthFrame(
                stamp,
                np.ascontiguousarray(image_to_numpy(image_message)),
                camera,
                invert_transform(base_in_map @ optical_in_base),
                base_in_map,
                objects.pop(stamp),
                actions.pop(stamp),
            )


def _track_views(frame: TruthFrame) -> list[TrackView]:
    return [TrackView(o.object_id, o.kind, o.centre, o.yaw, o.size, o.velocity) for o in frame.objects]


def evaluate_actions(bag: Path, recogniser: ActionRecogniser) -> dict[str, Any]:
    """Accuracy, per-class recall and confusion of the recogniser's estimates against the true actions
    (estimates still ``unknown`` are counted apart: the clip was not full yet)."""
    classes = len(ACTIONS)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    unknown = 0
    for frame in truth_frames(bag):
        estimates = recogniser.update(
            frame.stamp_ns,
            frame.image,
            frame.camera,
            frame.map_to_optical,
            frame.base_in_map[:2, :2].T,
            [view for view in _track_views(frame) if view.track_id in frame.actions],
        )
        for object_id, estimate in estimates.items():
            if estimate.stamp_ns != frame.stamp_ns:
                continue  # scored once per clip sample, not repeated between samples
            if estimate.action == UNKNOWN_ACTION:
                unknown += 1
                continue
            confusion[ACTIONS.index(frame.actions[object_id]), ACTIONS.index(estimate.action)] += 1
    support = confusion.sum(1)
    recall = {ACTIONS[c]: round(float(confusion[c, c] / support[c]), 4) for c in range(classes) if support[c]}
    return {
        "bag": str(bag),
        "scored": int(confusion.sum()),
        "unknown_not_yet_full_clip": unknown,
        "accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "per_class_recall": recall,
        "support": {ACTIONS[c]: int(support[c]) for c in range(classes) if support[c]},
        "confusion": confusion.tolist(),
        "classes": list(ACTIONS),
    }


def evaluate_prediction(
    bag: Path, recogniser: ActionRecogniser | None = None, horizons: tuple[float, ...] = (1.0, 2.0, 3.0)
) -> dict[str, Any]:
    """ADE/FDE of the action-conditioned predictor and of constant velocity against the true futures of
    the road users the camera sees; actions from ``recogniser`` (or the ground truth when None)."""
    history: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    errors: dict[str, dict[str, list[float]]] = {"model": defaultdict(list), "constant_velocity": defaultdict(list)}
    by_action: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    steps = round(max(horizons) / 0.1)
    for frame in truth_frames(bag):
        ego_yaw = yaw_of(frame.base_in_map)
        estimates = {}
        if recogniser is not None:
            estimates = recogniser.update(
                frame.stamp_ns,
                frame.image,
                frame.camera,
                frame.map_to_optical,
                frame.base_in_map[:2, :2].T,
                [view for view in _track_views(frame) if view.track_id in frame.actions],
            )
        for obj in frame.objects:
            past = history[obj.object_id]
            past.append((frame.stamp_ns, float(obj.centre[0]), float(obj.centre[1])))
            while past and frame.stamp_ns - past[0][0] > HISTORY_S * 1e9:
                past.pop(0)
            if obj.object_id not in frame.actions or len(obj.future) < steps:
                continue
            if recogniser is not None:
                estimate = estimates.get(obj.object_id)
                action, confidence = (estimate.action, estimate.confidence) if estimate else (UNKNOWN_ACTION, 0.0)
            else:
                action, confidence = frame.actions[obj.object_id], 1.0
            track = np.array([((t - frame.stamp_ns) * 1e-9, x, y) for t, x, y in past])
            state = MotionState(obj.centre[:2], obj.velocity, obj.yaw, obj.kind, track)
            best = predict(state, action, confidence, frame.base_in_map[:2, 3], ego_yaw)[0]
            truth = obj.future[:steps]
            for name, path in (("model", best.xy), ("constant_velocity", constant_velocity(state).xy)):
                for key, value in displacement_errors(path[:steps], truth, horizons).items():
                    errors[name][key].append(value)
                    by_action[f"{frame.actions[obj.object_id]}/{name}"][key].append(value)
    summary = {name: {key: float(np.mean(values)) for key, values in table.items()} for name, table in errors.items()}
    final = f"fde_{max(horizons):g}s"
    model, baseline = summary.get("model", {}).get(final), summary.get("constant_velocity", {}).get(final)
    return {
        "bag": str(bag),
        "actions": "recognised" if recogniser is not None else "ground truth",
        "samples": len(errors["model"].get(final, [])),
        "summary": summary,
        "fde_reduction": (1.0 - model / baseline) if model is not None and baseline else None,
        "by_true_action": {
            key: {metric: float(np.mean(values)) for metric, values in table.items()}
            for key, table in sorted(by_action.items())
        },
    }
