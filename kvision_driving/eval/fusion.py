"""``kvision eval fusion BAG``: run the fusion chain over a recorded simulator bag and score it against
the ground truth in the same bag.

Scored objects are the ones the camera can see (the simulator lists them on /ground_truth/actions)
within range: cars within 40 m, pedestrians and cyclists within 25 m by default. Matching is by
class and centre distance (Hungarian): precision and recall by class and range, centre, heading and
velocity errors of matched tracks, MOTA and identity switches.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from kvision_driving.core.frames import PoseHistory, StaticFrameTree
from kvision_driving.core.geometry import invert_transform, transform_points
from kvision_driving.data.bags import read_messages
from kvision_driving.perception.fusion import FusionPipeline
from kvision_driving.perception.painting import CameraView
from kvision_driving.ros.convert import (
    camera_info_to_pinhole,
    image_to_numpy,
    odometry_to_state,
    pointcloud2_to_xyz,
    stamp_to_ns,
    transform_stamped_to_matrix,
)

KIND_OF_LABEL = {1: "car", 2: "truck", 3: "bus", 5: "motorcycle", 6: "bicycle", 7: "pedestrian"}
MATCH_DISTANCE = {"car": 2.0, "truck": 3.0, "bus": 3.0, "pedestrian": 1.0, "bicycle": 1.5, "motorcycle": 1.5}
RANGE_LIMIT = {"car": 40.0, "truck": 40.0, "bus": 40.0, "pedestrian": 25.0, "bicycle": 25.0, "motorcycle": 25.0}
RANGE_BINS = ((0.0, 15.0), (15.0, 30.0), (30.0, 45.0))
LABEL_TOPICS = {"ground-truth": "/ground_truth/camera/front/labels", "segmentation": "/perception/segmentation/labels"}


@dataclass
class Scores:
    true_positives: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    false_positives: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    false_negatives: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    centre_errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    heading_errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    velocity_errors: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    id_switches: int = 0
    ground_truth_count: int = 0
    frames: int = 0


def range_bin(distance: float) -> int:
    for index, (low, high) in enumerate(RANGE_BINS):
        if low <= distance < high:
            return index
    return len(RANGE_BINS) - 1


def _object_pose(obj: Any) -> tuple[np.ndarray, float, float]:
    """(x, y), yaw and speed of an autoware object (decoded by rosbags or rclpy)."""
    pose = obj.kinematics.pose_with_covariance.pose
    yaw = 2.0 * np.arctan2(pose.orientation.z, pose.orientation.w)
    twist = obj.kinematics.twist_with_covariance.twist.linear
    return np.array([pose.position.x, pose.position.y]), float(yaw), float(np.hypot(twist.x, twist.y))


def evaluate_bag(
    bag: Path, labels: str = "ground-truth", max_offset_ns: int = 60_000_000, png: Path | None = None
) -> dict[str, Any]:
    """Score the fusion chain on ``bag``; ``labels`` picks the label images that paint the points."""
    if labels not in LABEL_TOPICS:
        raise ValueError(f"labels must be one of {', '.join(LABEL_TOPICS)}")
    label_topic = LABEL_TOPICS[labels]
    tree, poses, pipeline, scores = StaticFrameTree(), PoseHistory(), FusionPipeline(), Scores()
    camera = None
    recent_labels: list[Any] = []
    truth: dict[int, Any] = {}
    visible: dict[int, set[bytes]] = {}
    results: list[tuple[int, list, str]] = []
    topics = {
        "/tf_static",
        "/localization/odometry",
        "/sensing/camera/front/camera_info",
        label_topic,
        "/sensing/lidar/top/points",
        "/ground_truth/objects/tracked",
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
        elif topic == label_topic:
            recent_labels = [*recent_labels[-9:], message]
        elif topic == "/ground_truth/objects/tracked":
            truth[stamp_to_ns(message.header.stamp)] = message
        elif topic == "/ground_truth/actions":
            visible[stamp_to_ns(message.header.stamp)] = {bytes.fromhex(d.id) for d in message.detections}
        elif topic == "/sensing/lidar/top/points":
            stamp = stamp_to_ns(message.header.stamp)
            xyz, _ = pointcloud2_to_xyz(message)
            lidar_in_base = tree.lookup("base_link", message.header.frame_id)
            views = []
            nearest = min(recent_labels, key=lambda m: abs(stamp_to_ns(m.header.stamp) - stamp), default=None)
            if (
                camera is not None
                and nearest is not None
                and abs(stamp_to_ns(nearest.header.stamp) - stamp) <= max_offset_ns
            ):
                optical_in_base = tree.lookup("base_link", nearest.header.frame_id)
                views.append(
                    CameraView(
                        camera,
                        np.ascontiguousarray(image_to_numpy(nearest)),
                        None,
                        invert_transform(optical_in_base) @ lidar_in_base,
                    )
                )
            result = pipeline.process(stamp, xyz, views, lidar_in_base, poses.at(stamp))
            # Snapshots: the tracker updates its Track objects in place at the next sweep.
            snapshot = [replace(track, state=track.state.copy()) for track in result.tracks]
            results.append((stamp, snapshot, result.tracking_frame))
    last_match: dict[bytes, bytes] = {}
    last_scored = None
    for stamp, tracks, frame in results:
        reference, seen, ego = truth.get(stamp), visible.get(stamp), poses.at(stamp)
        if reference is None or seen is None or ego is None or frame != "map":
            continue
        scores.frames += 1
        _score_frame(scores, tracks, reference, seen, ego, last_match)
        last_scored = (stamp, tracks, reference, seen, ego)
    if png is not None and last_scored is not None:
        bird_eye_png(png, *last_scored)
    return summarise(scores)


def bird_eye_png(path: Path, stamp: int, tracks: list, reference: Any, seen: set[bytes], ego: np.ndarray) -> None:
    """Ground truth (outlines; green when scored) and tracks (filled, with velocity) around ego, ego frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from kvision_driving.core.boxes import box_corners

    base_from_map = invert_transform(ego)
    ego_yaw = float(np.arctan2(ego[1, 0], ego[0, 0]))
    figure, axis = plt.subplots(figsize=(9, 6))
    for obj in reference.objects:
        xy, yaw, _ = _object_pose(obj)
        local = transform_points(base_from_map, np.array([[*xy, 0.0]]))[0]
        size = obj.shape.dimensions
        corners = box_corners(local[0], local[1], yaw - ego_yaw, size.x, size.y)
        colour = "tab:green" if bytes(obj.object_id.uuid) in seen else "0.7"
        axis.add_patch(Polygon(corners[:, ::-1] * [-1, 1], closed=True, fill=False, edgecolor=colour, lw=1.5))
    for track in tracks:
        local = transform_points(base_from_map, np.array([[track.state[0], track.state[1], 0.0]]))[0]
        corners = box_corners(local[0], local[1], track.yaw - ego_yaw, track.size[0], track.size[1])
        colour = "tab:red" if track.kind == "pedestrian" else "tab:blue"
        axis.add_patch(Polygon(corners[:, ::-1] * [-1, 1], closed=True, alpha=0.4, color=colour))
        velocity = base_from_map[:2, :2] @ track.state[2:4]
        axis.arrow(-local[1], local[0], -velocity[1], velocity[0], width=0.1, color=colour)
    axis.add_patch(Polygon(box_corners(1.4, 0, 0, 4.6, 1.9)[:, ::-1] * [-1, 1], closed=True, color="black"))
    axis.set_xlim(-30, 30)
    axis.set_ylim(-10, 60)
    axis.set_aspect("equal")
    axis.set_xlabel("left <- y (m)")
    axis.set_ylabel("x forward (m)")
    axis.set_title(f"fusion at t={stamp / 1e9:.1f} s: ground truth (green: scored, grey: not visible), tracks (filled)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _score_frame(
    scores: Scores, tracks: list, reference: Any, seen: set[bytes], ego: np.ndarray, last_match: dict[bytes, bytes]
) -> None:
    base_from_map = invert_transform(ego)
    wanted = []
    for obj in reference.objects:
        kind = KIND_OF_LABEL.get(obj.classification[0].label)
        xy, yaw, speed = _object_pose(obj)
        distance = float(np.linalg.norm(transform_points(base_from_map, np.array([[*xy, 0.0]]))[0, :2]))
        if kind and bytes(obj.object_id.uuid) in seen and distance <= RANGE_LIMIT[kind]:
            wanted.append((kind, xy, yaw, speed, distance, bytes(obj.object_id.uuid)))
    scores.ground_truth_count += len(wanted)
    candidates = []
    for track in tracks:
        distance = float(
            np.linalg.norm(transform_points(base_from_map, np.array([[track.state[0], track.state[1], 0.0]]))[0, :2])
        )
        if distance <= RANGE_LIMIT.get(track.kind, 40.0) + 3.0:  # near the limit: count only if it matches
            candidates.append((track, distance))
    cost = np.full((len(wanted), len(candidates)), 1e6)
    for i, (kind, xy, *_rest) in enumerate(wanted):
        for j, (track, _) in enumerate(candidates):
            gap = float(np.linalg.norm(track.state[:2] - xy))
            if track.kind == kind and gap <= MATCH_DISTANCE[kind]:
                cost[i, j] = gap
    rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
    matched_wanted, matched_tracks = set(), set()
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] >= 1e6:
            continue
        kind, xy, yaw, speed, distance, uid = wanted[i]
        track = candidates[j][0]
        matched_wanted.add(i)
        matched_tracks.add(j)
        scores.true_positives[(kind, range_bin(distance))] += 1
        scores.centre_errors[kind].append(float(cost[i, j]))
        heading_error = abs(np.angle(np.exp(1j * (track.yaw - yaw))))
        scores.heading_errors[kind].append(float(min(heading_error, np.pi - heading_error)))  # boxes are symmetric
        scores.velocity_errors[kind].append(abs(track.speed - speed))
        if uid in last_match and last_match[uid] != track.track_id:
            scores.id_switches += 1
        last_match[uid] = track.track_id
    for i, (kind, _, _, _, distance, _) in enumerate(wanted):
        if i not in matched_wanted:
            scores.false_negatives[(kind, range_bin(distance))] += 1
    # A track on a real object the camera barely sees, or just out of range, is neither right nor wrong
    # (KITTI's "don't care"): only tracks on nothing count as false positives.
    everything = [_object_pose(obj)[0] for obj in reference.objects]
    for j, (track, distance) in enumerate(candidates):
        if j in matched_tracks or distance > RANGE_LIMIT.get(track.kind, 40.0):
            continue
        if any(np.linalg.norm(track.state[:2] - xy) <= MATCH_DISTANCE.get(track.kind, 2.0) for xy in everything):
            continue
        scores.false_positives[(track.kind, range_bin(distance))] += 1


def summarise(scores: Scores) -> dict[str, Any]:
    kinds = sorted({kind for kind, _ in [*scores.true_positives, *scores.false_negatives, *scores.false_positives]})
    by_class = {}
    for kind in kinds:
        tp = sum(v for (k, _), v in scores.true_positives.items() if k == kind)
        fp = sum(v for (k, _), v in scores.false_positives.items() if k == kind)
        fn = sum(v for (k, _), v in scores.false_negatives.items() if k == kind)
        by_range = {}
        for index, (low, high) in enumerate(RANGE_BINS):
            t, f, n = (
                scores.true_positives[(kind, index)],
                scores.false_positives[(kind, index)],
                scores.false_negatives[(kind, index)],
            )
            if t + f + n:
                by_range[f"{low:.0f}-{high:.0f} m"] = {
                    "precision": t / max(t + f, 1),
                    "recall": t / max(t + n, 1),
                    "ground_truth": t + n,
                }
        by_class[kind] = {
            "precision": tp / max(tp + fp, 1),
            "recall": tp / max(tp + fn, 1),
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
            "by_range": by_range,
            "centre_error_median_m": _median(scores.centre_errors[kind]),
            "heading_error_median_deg": float(np.degrees(_median(scores.heading_errors[kind]))),
            "velocity_error_median_mps": _median(scores.velocity_errors[kind]),
        }
    misses = sum(scores.false_negatives.values())
    false_alarms = sum(scores.false_positives.values())
    mota = 1.0 - (misses + false_alarms + scores.id_switches) / max(scores.ground_truth_count, 1)
    return {
        "frames": scores.frames,
        "by_class": by_class,
        "mota": mota,
        "id_switches": scores.id_switches,
        "ground_truth_objects": scores.ground_truth_count,
    }


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")
