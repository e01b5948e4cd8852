"""``kvision eval fusion BAG``: run the fusion chain over a recorded bag and score it against the ground truth
in the same bag.

Two kinds of ground truth:
- a simulator bag (``kvision sim record``): tracked objects with identities and the list of those the camera
  sees (/ground_truth/actions). Cars within 40 m, pedestrians and cyclists within 25 m are scored; tracks
  are matched by class and centre distance (Hungarian): precision and recall by class and range, centre,
  heading and velocity errors, MOTA and identity switches.
- a labelled real recording (``kvision import-kitti`` of KITTI or Argoverse frames): boxes per frame without
  identities (/ground_truth/objects/detected). A box is scored when its centre is in the camera's image and
  the lidar has at least ``MIN_TRUTH_POINTS`` returns inside it (nothing else can find it); each frame's
  detections are matched to them the same way. MOTA is then (misses + false alarms) over the scored boxes:
  identity switches cannot be counted without identities.

Points are painted with the simulator's exact labels (``--labels ground-truth``), the segmentation recorded in
the bag (``segmentation``), or a segmentation model run here on the bag's camera images (``model``), as
segmentation_node would: the default (``auto``) takes the first of those the bag allows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.frames import PoseHistory, StaticFrameTree
from kvision_driving.core.geometry import Matrix4, invert_transform, planar_yaw, transform_points, yaw_of
from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE
from kvision_driving.data.bag_source import BagError, open_bag
from kvision_driving.data.bags import read_messages
from kvision_driving.data.messages import (
    camera_info_to_pinhole,
    image_to_numpy,
    odometry_to_state,
    pointcloud2_to_xyz,
    stamp_to_ns,
    transform_stamped_to_matrix,
)
from kvision_driving.inference.backends import create_backend
from kvision_driving.inference.model_card import shipped_model
from kvision_driving.perception.fusion import FusionPipeline
from kvision_driving.perception.objects import Detection, Rejection
from kvision_driving.perception.painting import camera_view
from kvision_driving.perception.segmentation import Segmenter, to_rgb
from kvision_driving.perception.tracking import Track

KIND_OF_LABEL = {1: "car", 2: "truck", 3: "bus", 5: "motorcycle", 6: "bicycle", 7: "pedestrian"}
MATCH_DISTANCE = {"car": 2.0, "truck": 3.0, "bus": 3.0, "pedestrian": 1.0, "bicycle": 1.5, "motorcycle": 1.5}
RANGE_LIMIT = {"car": 40.0, "truck": 40.0, "bus": 40.0, "pedestrian": 25.0, "bicycle": 25.0, "motorcycle": 25.0}
RANGE_BINS = ((0.0, 15.0), (15.0, 30.0), (30.0, 45.0))
LABEL_TOPICS = {"ground-truth": "/ground_truth/camera/front/labels", "segmentation": "/perception/segmentation/labels"}
LABEL_SOURCES = ("auto", *LABEL_TOPICS, "model")
IMAGE_TOPIC = "/sensing/camera/front/image_raw"
SIM_TRUTH, DETECTED_TRUTH = "/ground_truth/objects/tracked", "/ground_truth/objects/detected"
MIN_TRUTH_POINTS = 5  # lidar returns in a labelled box for it to be findable


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
    yaw = planar_yaw(pose.orientation)
    twist = obj.kinematics.twist_with_covariance.twist.linear
    return np.array([pose.position.x, pose.position.y]), float(yaw), float(np.hypot(twist.x, twist.y))


@dataclass
class Sweep:
    """One lidar sweep through the fusion chain, with what scoring it needs."""

    stamp: int
    points_base: NDArray[np.float64]
    detections: list[Detection]
    rejected: list[Rejection]
    tracks: list[Track]  # snapshots: the tracker updates its Track objects in place at the next sweep
    tracking_frame: str
    base_from_optical: Matrix4 | None  # the camera that painted it
    camera: PinholeCamera | None


class LabelSource:
    """Label images by stamp: recorded ones, or a segmentation model run on the recorded camera images."""

    def __init__(self, topic: str, segmenter: Segmenter | None = None) -> None:
        self.topic = topic
        self.segmenter = segmenter
        self.recent: list[tuple[int, str, NDArray[np.uint8], NDArray[np.float32] | None]] = []

    def add(self, message: Any) -> None:
        image = np.ascontiguousarray(image_to_numpy(message))
        confidence = None
        if self.segmenter is not None:
            result = self.segmenter(to_rgb(image, message.encoding))
            image, confidence = result.labels, result.confidence
        entry = (stamp_to_ns(message.header.stamp), message.header.frame_id, image, confidence)
        self.recent = [*self.recent[-9:], entry]

    def nearest(self, stamp: int, max_offset_ns: int) -> tuple[int, str, NDArray[np.uint8], NDArray | None] | None:
        """(stamp, frame id, labels, confidence) of the label image nearest ``stamp``, if near enough."""
        best = min(self.recent, key=lambda entry: abs(entry[0] - stamp), default=None)
        if best is None or abs(best[0] - stamp) > max_offset_ns:
            return None
        return best


def label_source_for(topics: set[str], labels: str, model: Path | None, backend: str) -> tuple[LabelSource, str]:
    """The label images to paint with, and the name of the choice ``auto`` resolved to."""
    if labels not in LABEL_SOURCES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_SOURCES)}")
    if labels == "auto":
        recorded = [name for name, topic in LABEL_TOPICS.items() if topic in topics]
        labels = recorded[0] if recorded else "model"
    if labels != "model":
        if LABEL_TOPICS[labels] not in topics:
            raise BagError(f"the bag lacks {LABEL_TOPICS[labels]} (--labels {labels})")
        return LabelSource(LABEL_TOPICS[labels]), labels
    if IMAGE_TOPIC not in topics:
        raise BagError(f"the bag lacks {IMAGE_TOPIC}: no camera images to segment (--labels model)")
    choice = create_backend(model or shipped_model("segmentation.onnx"), backend)
    return LabelSource(IMAGE_TOPIC, Segmenter(choice.backend, choice.card)), labels


def evaluate_bag(
    bag: Path,
    labels: str = "auto",
    max_offset_ns: int = 60_000_000,
    png: Path | None = None,
    model: Path | None = None,
    backend: str = "onnxruntime",
) -> dict[str, Any]:
    """Score the fusion chain on ``bag``; ``labels`` picks what paints the points (module docstring)."""
    topics = set(open_bag(bag).topics)
    if SIM_TRUTH in topics:
        truth_topics = {SIM_TRUTH, "/ground_truth/actions"}
    elif DETECTED_TRUTH in topics:
        truth_topics = {DETECTED_TRUTH}
    else:
        raise BagError(
            f"{bag} lacks ground truth: {SIM_TRUTH} (kvision sim record) or {DETECTED_TRUTH} (kvision import-kitti)"
        )
    source, labels = label_source_for(topics, labels, model, backend)
    tree, poses, pipeline = StaticFrameTree(), PoseHistory(), FusionPipeline()
    camera = None
    truth: dict[int, Any] = {}
    visible: dict[int, set[bytes]] = {}
    sweeps: list[Sweep] = []
    wanted = {"/tf_static", "/sensing/camera/front/camera_info", "/sensing/lidar/top/points", source.topic}
    optional = {"/localization/odometry"} & topics
    for topic, _, message in read_messages(bag, wanted | truth_topics | optional, require=True):
        if topic == "/tf_static":
            for transform in message.transforms:
                tree.add(*transform_stamped_to_matrix(transform))
        elif topic == "/localization/odometry":
            state = odometry_to_state(message)
            poses.add(state.stamp_ns, state.pose)
        elif topic == "/sensing/camera/front/camera_info":
            camera = camera_info_to_pinhole(message)
        elif topic == source.topic:
            source.add(message)
        elif topic in (SIM_TRUTH, DETECTED_TRUTH):
            truth[stamp_to_ns(message.header.stamp)] = message
        elif topic == "/ground_truth/actions":
            visible[stamp_to_ns(message.header.stamp)] = {bytes.fromhex(d.id) for d in message.detections}
        elif topic == "/sensing/lidar/top/points":
            sweeps.append(
                _fuse(
                    pipeline,
                    message,
                    tree,
                    poses,
                    camera,
                    source.nearest(stamp_to_ns(message.header.stamp), max_offset_ns),
                )
            )
    if SIM_TRUTH in truth_topics:
        result = _score_tracked(sweeps, truth, visible, poses, png)
    else:
        result = _score_detected(sweeps, truth, png)
    return {"labels": labels, **result, "implausible_clusters": sum(len(sweep.rejected) for sweep in sweeps)}


def _fuse(
    pipeline: FusionPipeline,
    message: Any,
    tree: StaticFrameTree,
    poses: PoseHistory,
    camera: PinholeCamera | None,
    label_image: tuple[int, str, NDArray[np.uint8], NDArray[np.float32] | None] | None,
) -> Sweep:
    stamp = stamp_to_ns(message.header.stamp)
    xyz, _ = pointcloud2_to_xyz(message)
    lidar_in_base = tree.lookup("base_link", message.header.frame_id)
    views, optical_in_base = [], None
    if camera is not None and label_image is not None:
        label_stamp, frame_id, image, confidence = label_image
        optical_in_base = tree.lookup("base_link", frame_id)
        views.append(
            camera_view(
                camera,
                image,
                confidence,
                optical_in_base=optical_in_base,
                lidar_in_base=lidar_in_base,
                base_at_lidar=poses.at(stamp),
                base_at_camera=poses.at(label_stamp),
            )
        )
    result = pipeline.process(stamp, xyz, views, lidar_in_base, poses.at(stamp))
    return Sweep(
        stamp,
        transform_points(lidar_in_base, np.asarray(xyz, dtype=np.float64)),
        result.detections,
        result.rejected,
        [replace(track, state=track.state.copy()) for track in result.tracks],
        result.tracking_frame,
        optical_in_base,
        camera,
    )


def _score_tracked(
    sweeps: list[Sweep], truth: dict[int, Any], visible: dict[int, set[bytes]], poses: PoseHistory, png: Path | None
) -> dict[str, Any]:
    scores = Scores()
    last_match: dict[bytes, bytes] = {}
    last_scored = None
    for sweep in sweeps:
        reference, seen, ego = truth.get(sweep.stamp), visible.get(sweep.stamp), poses.at(sweep.stamp)
        if reference is None or seen is None or ego is None or sweep.tracking_frame != "map":
            continue
        scores.frames += 1
        found = [Found(t.state[:2], t.yaw, t.kind, t.speed, t.track_id) for t in sweep.tracks]
        _match(scores, found, reference, lambda obj, seen=seen: bytes(obj.object_id.uuid) in seen, ego, last_match)
        last_scored = (sweep, reference, seen, ego)
    if png is not None and last_scored is not None:
        sweep, reference, seen, ego = last_scored
        found = [(t.state[:2], t.yaw, t.size, t.kind, t.state[2:4]) for t in sweep.tracks]
        bird_eye_png(
            png, sweep.stamp, _truth_boxes(reference, lambda obj: bytes(obj.object_id.uuid) in seen), found, ego
        )
    return summarise(scores)


def truth_points(points_base: NDArray[np.float64], obj: Any) -> int:
    """Lidar returns inside a ground-truth box (base_link)."""
    xy, yaw, _ = _object_pose(obj)
    size = obj.shape.dimensions
    centre_z = obj.kinematics.pose_with_covariance.pose.position.z
    offset = points_base[:, :2] - xy
    along = offset @ [np.cos(yaw), np.sin(yaw)]
    across = offset @ [-np.sin(yaw), np.cos(yaw)]
    inside = (np.abs(along) <= size.x / 2) & (np.abs(across) <= size.y / 2)
    return int(np.count_nonzero(inside & (np.abs(points_base[:, 2] - centre_z) <= size.z / 2)))


def truth_visible(sweep: Sweep, obj: Any) -> bool:
    """The camera images the box's centre and the lidar hit it: something could have found it."""
    if sweep.camera is None or sweep.base_from_optical is None:
        return False
    centre = obj.kinematics.pose_with_covariance.pose.position
    optical = transform_points(invert_transform(sweep.base_from_optical), np.array([[centre.x, centre.y, centre.z]]))
    _, inside = sweep.camera.project(optical)
    return bool(inside[0]) and truth_points(sweep.points_base, obj) >= MIN_TRUTH_POINTS


def _score_detected(sweeps: list[Sweep], truth: dict[int, Any], png: Path | None) -> dict[str, Any]:
    """Each frame's detections against its boxes (base_link); no identities, so no identity switches."""
    scores = Scores()
    false_objects: list[int] = []
    last_scored = None
    for sweep in sweeps:
        reference = truth.get(sweep.stamp)
        if reference is None:
            continue
        scores.frames += 1
        scored = {id(obj) for obj in reference.objects if truth_visible(sweep, obj)}
        before = sum(scores.false_positives.values())
        found = [Found(d.centre[:2], d.yaw, d.kind) for d in sweep.detections]
        _match(scores, found, reference, lambda obj, scored=scored: id(obj) in scored, np.eye(4))
        false_objects.append(sum(scores.false_positives.values()) - before)
        last_scored = (sweep, reference, scored)
    if png is not None and last_scored is not None:
        sweep, reference, scored = last_scored
        found = [(d.centre[:2], d.yaw, d.size, d.kind, None) for d in sweep.detections]
        bird_eye_png(png, sweep.stamp, _truth_boxes(reference, lambda obj: id(obj) in scored), found, np.eye(4))
    summary = summarise(scores)
    summary["id_switches"] = None  # the labels have no identities
    summary["false_objects_per_frame"] = false_objects
    return summary


def _truth_boxes(reference: Any, scored: Any) -> list[tuple]:
    boxes = []
    for obj in reference.objects:
        xy, yaw, _ = _object_pose(obj)
        boxes.append((xy, yaw, (obj.shape.dimensions.x, obj.shape.dimensions.y), scored(obj)))
    return boxes


def bird_eye_png(path: Path, stamp: int, truth_boxes: list[tuple], found: list[tuple], ego: NDArray) -> None:
    """Ground truth (outlines; green when scored) and what fusion found (filled, with velocity when tracked)
    around ego, in ego's frame. Boxes are in the frame ``ego`` is the pose of."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from kvision_driving.core.boxes import box_corners

    base_from_map = invert_transform(ego)
    ego_yaw = yaw_of(ego)
    figure, axis = plt.subplots(figsize=(9, 6))
    for xy, yaw, size, scored in truth_boxes:
        local = transform_points(base_from_map, np.array([[*xy, 0.0]]))[0]
        corners = box_corners(local[0], local[1], yaw - ego_yaw, size[0], size[1])
        colour = "tab:green" if scored else "0.7"
        axis.add_patch(Polygon(corners[:, ::-1] * [-1, 1], closed=True, fill=False, edgecolor=colour, lw=1.5))
    for xy, yaw, size, kind, velocity in found:
        local = transform_points(base_from_map, np.array([[xy[0], xy[1], 0.0]]))[0]
        corners = box_corners(local[0], local[1], yaw - ego_yaw, size[0], size[1])
        colour = "tab:red" if kind == "pedestrian" else "tab:orange" if kind == "bicycle" else "tab:blue"
        axis.add_patch(Polygon(corners[:, ::-1] * [-1, 1], closed=True, alpha=0.4, color=colour))
        if velocity is not None:
            moving = base_from_map[:2, :2] @ velocity
            axis.arrow(-local[1], local[0], -moving[1], moving[0], width=0.1, color=colour)
    ego = box_corners(REAR_AXLE_TO_CENTRE, 0, 0, EGO_LENGTH, EGO_WIDTH)
    axis.add_patch(Polygon(ego[:, ::-1] * [-1, 1], closed=True, color="black"))
    axis.set_xlim(-30, 30)
    axis.set_ylim(-10, 60)
    axis.set_aspect("equal")
    axis.set_xlabel("left <- y (m)")
    axis.set_ylabel("x forward (m)")
    axis.set_title(f"fusion at t={stamp / 1e9:.1f} s: ground truth (green: scored, grey: not), found (filled)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


@dataclass(frozen=True)
class Found:
    """A track or a detection as scoring sees it (in the frame ``ego`` is the pose of)."""

    xy: NDArray[np.float64]
    yaw: float
    kind: str
    speed: float | None = None  # tracks only
    identity: bytes | None = None  # tracks only


def _match(
    scores: Scores,
    found: list[Found],
    reference: Any,
    scored: Callable[[Any], bool],
    ego: NDArray,
    last_match: dict[bytes, bytes] | None = None,
) -> None:
    """One frame: ground truth that ``scored`` admits within range, matched by class and centre distance
    (Hungarian); identity switches counted when both sides have identities (``last_match``)."""
    base_from_map = invert_transform(ego)

    def distance_of(xy: NDArray) -> float:
        return float(np.linalg.norm(transform_points(base_from_map, np.array([[xy[0], xy[1], 0.0]]))[0, :2]))

    wanted = []
    for obj in reference.objects:
        kind = KIND_OF_LABEL.get(obj.classification[0].label)
        xy, yaw, speed = _object_pose(obj)
        distance = distance_of(xy)
        if kind and scored(obj) and distance <= RANGE_LIMIT[kind]:
            identity = bytes(obj.object_id.uuid) if hasattr(obj, "object_id") else None  # detected: none
            wanted.append((kind, xy, yaw, speed, distance, identity))
    scores.ground_truth_count += len(wanted)
    candidates = []
    for item in found:
        distance = distance_of(item.xy)
        if distance <= RANGE_LIMIT[item.kind] + 3.0:  # near the limit: count only if it matches
            candidates.append((item, distance))
    cost = np.full((len(wanted), len(candidates)), 1e6)
    for i, (kind, xy, *_rest) in enumerate(wanted):
        for j, (item, _) in enumerate(candidates):
            gap = float(np.linalg.norm(item.xy - xy))
            if item.kind == kind and gap <= MATCH_DISTANCE[kind]:
                cost[i, j] = gap
    rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
    matched_wanted, matched_found = set(), set()
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] >= 1e6:
            continue
        kind, xy, yaw, speed, distance, uid = wanted[i]
        item = candidates[j][0]
        matched_wanted.add(i)
        matched_found.add(j)
        scores.true_positives[(kind, range_bin(distance))] += 1
        scores.centre_errors[kind].append(float(cost[i, j]))
        heading_error = abs(np.angle(np.exp(1j * (item.yaw - yaw))))
        scores.heading_errors[kind].append(float(min(heading_error, np.pi - heading_error)))  # boxes are symmetric
        if item.speed is not None:
            scores.velocity_errors[kind].append(abs(item.speed - speed))
        if last_match is not None and item.identity is not None and uid is not None:
            if uid in last_match and last_match[uid] != item.identity:
                scores.id_switches += 1
            last_match[uid] = item.identity
    for i, (kind, _, _, _, distance, _) in enumerate(wanted):
        if i not in matched_wanted:
            scores.false_negatives[(kind, range_bin(distance))] += 1
    # Something found on a real object the camera barely sees, or just out of range, is neither right nor
    # wrong (KITTI's "don't care"): only what is found on nothing counts as a false positive.
    everything = [_object_pose(obj)[0] for obj in reference.objects]
    for j, (item, distance) in enumerate(candidates):
        if j in matched_found or distance > RANGE_LIMIT[item.kind]:
            continue
        if any(np.linalg.norm(item.xy - xy) <= MATCH_DISTANCE[item.kind] for xy in everything):
            continue
        scores.false_positives[(item.kind, range_bin(distance))] += 1


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
