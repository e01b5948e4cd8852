"""The demo report from a recorded run: a video and key frames a person reads at a glance, and the metrics.

Each frame: left, the camera with the segmentation overlay and the recognised actions over their
boxes; right, a bird's-eye view around ego with the painted lidar points, the tracks, their most
likely predicted paths and the planned trajectory, and the planner's behaviour on top. Metrics are
scored against the simulator's ground truth in the same bag where it has one (a KITTI bag has none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.boxes import box_corners
from kvision_driving.core.frames import PoseHistory, StaticFrameTree
from kvision_driving.core.geometry import invert_transform, planar_yaw, transform_points
from kvision_driving.core.labels import CLASS_NAMES, IGNORE, PALETTE, TRAIN_ID, colorize
from kvision_driving.core.vehicle import EGO_LENGTH, EGO_WIDTH, REAR_AXLE_TO_CENTRE
from kvision_driving.data.bags import read_messages
from kvision_driving.data.messages import (
    image_to_numpy,
    odometry_to_state,
    pointcloud2_field,
    pointcloud2_to_xyz,
    stamp_to_ns,
    transform_stamped_to_matrix,
)
from kvision_driving.eval.paths import path_xy_at
from kvision_driving.perception.prediction import future_times

CAMERA = "/sensing/camera/front/image_raw"
TOPICS = {
    CAMERA,
    "/tf_static",
    "/localization/odometry",
    "/perception/segmentation/labels",
    "/ground_truth/camera/front/labels",
    "/perception/fusion/painted_points",
    "/perception/objects/tracked",
    "/ground_truth/objects/tracked",
    "/perception/actions",
    "/ground_truth/actions",
    "/perception/objects/predicted",
    "/ground_truth/objects/predicted",
    "/planning/trajectory",
    "/planning/markers",
    "/diagnostics",
}
BEV_SIZE, BEV_RESOLUTION, BEV_BEHIND = (640, 384), 0.125, 20.0
MATCH_M, RANGE_M = 2.0, 40.0


@dataclass
class _Scores:
    confusion: NDArray[np.int64] = field(default_factory=lambda: np.zeros((19, 19), np.int64))
    visible: int = 0
    detected: int = 0
    tracks: int = 0
    true_tracks: int = 0
    actions_scored: int = 0
    actions_correct: int = 0
    ade: list[float] = field(default_factory=list)
    fde: list[float] = field(default_factory=list)
    cv_fde: list[float] = field(default_factory=list)
    behaviours: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _objects(message: Any, kind: str) -> list[tuple[str, NDArray, float, Any, Any]]:
    """(uuid hex, centre xy, yaw, shape dims, object) of tracked or predicted objects."""
    out = []
    for obj in message.objects:
        pose = (
            obj.kinematics.pose_with_covariance.pose
            if kind == "tracked"
            else obj.kinematics.initial_pose_with_covariance.pose
        )
        out.append(
            (
                bytes(obj.object_id.uuid).hex(),
                np.array([pose.position.x, pose.position.y]),
                planar_yaw(pose.orientation),
                obj.shape.dimensions,
                obj,
            )
        )
    return out


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _boxes(message: Any) -> list[tuple[str, tuple[float, float, float, float], str, float]]:
    out = []
    for d in message.detections:
        cx, cy, w, h = d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y
        best = max(d.results, key=lambda r: r.hypothesis.score) if d.results else None
        action, score = (best.hypothesis.class_id, best.hypothesis.score) if best else ("unknown", 0.0)
        out.append((d.id, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), action, float(score)))
    return out


class ReportBuilder:
    def __init__(self, out: Path, video_every: int = 2) -> None:
        self.out = out
        self.video_every = video_every
        self.latest: dict[str, Any] = {}  # the newest message of every output, as the frames are drawn
        self.tree, self.poses = StaticFrameTree(), PoseHistory()
        self.scores = _Scores()
        self.truth_labels: dict[int, Any] = {}
        self.truth_tracked: dict[int, Any] = {}
        self.truth_actions: dict[int, Any] = {}
        self.truth_predicted: dict[int, Any] = {}
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.frames: list[NDArray[np.uint8]] = []
        self.pending: list[Any] = []  # camera messages waiting for their segmentation
        self.camera_count = 0
        self.has_truth = False

    # --- reading -------------------------------------------------------------------------------------

    def read(self, bag: Path) -> None:
        for topic, _, message in read_messages(bag, TOPICS):
            self._on(topic, message)
        self._draw_pending(2**62)

    def _on(self, topic: str, message: Any) -> None:
        if topic == "/tf_static":
            for transform in message.transforms:
                self.tree.add(*transform_stamped_to_matrix(transform))
        elif topic == "/localization/odometry":
            state = odometry_to_state(message)
            self.poses.add(state.stamp_ns, state.pose)
        elif topic == "/diagnostics":
            for status in message.status:
                self.diagnostics[status.name.removeprefix("kvision: ")] = {v.key: v.value for v in status.values}
        elif topic.startswith("/ground_truth/"):
            self.has_truth = True
            store = {
                "/ground_truth/camera/front/labels": self.truth_labels,
                "/ground_truth/objects/tracked": self.truth_tracked,
                "/ground_truth/actions": self.truth_actions,
                "/ground_truth/objects/predicted": self.truth_predicted,
            }[topic]
            store[stamp_to_ns(message.header.stamp)] = message
            for old in [stamp for stamp in store if stamp < stamp_to_ns(message.header.stamp) - 2_000_000_000]:
                del store[old]
        elif topic == CAMERA:
            self.camera_count += 1
            if (self.camera_count - 1) % self.video_every == 0:
                self.pending.append(message)
            self._draw_pending(stamp_to_ns(message.header.stamp) - 500_000_000)  # labels dropped: draw without
        else:
            self.latest[topic] = message
            self._score(topic, message)
            if topic == "/perception/segmentation/labels":
                self._draw_pending(stamp_to_ns(message.header.stamp))

    def _draw_pending(self, up_to_ns: int) -> None:
        """Draw the camera frames up to a stamp once the outputs for them have arrived (the recording
        holds each image before the results computed from it)."""
        while self.pending and stamp_to_ns(self.pending[0].header.stamp) <= up_to_ns:
            self.frames.append(self._frame(self.pending.pop(0)))

    # --- metrics -------------------------------------------------------------------------------------

    def _score(self, topic: str, message: Any) -> None:
        stamp = stamp_to_ns(message.header.stamp) if hasattr(message, "header") else 0
        scores = self.scores
        if topic == "/perception/segmentation/labels" and stamp in self.truth_labels:
            predicted = image_to_numpy(message).astype(np.int64)
            truth = image_to_numpy(self.truth_labels[stamp]).astype(np.int64)
            valid = (truth != IGNORE) & (predicted < 19)
            scores.confusion += np.bincount(truth[valid] * 19 + predicted[valid], minlength=361).reshape(19, 19)
        elif topic == "/perception/objects/tracked" and stamp in self.truth_tracked:
            ego = self.poses.at(stamp)
            if ego is None:
                return
            seen = self.truth_actions.get(stamp)
            visible = {d.id for d in seen.detections} if seen is not None else set()
            truth = [o for o in _objects(self.truth_tracked[stamp], "tracked") if o[0] in visible]
            truth = [o for o in truth if np.linalg.norm(o[1] - ego[:2, 3]) < RANGE_M]
            mine = [o for o in _objects(message, "tracked") if np.linalg.norm(o[1] - ego[:2, 3]) < RANGE_M]
            every_truth = _objects(self.truth_tracked[stamp], "tracked")
            scores.visible += len(truth)
            scores.detected += sum(any(np.linalg.norm(t[1] - m[1]) < MATCH_M for m in mine) for t in truth)
            scores.tracks += len(mine)
            scores.true_tracks += sum(any(np.linalg.norm(t[1] - m[1]) < MATCH_M for t in every_truth) for m in mine)
        elif topic == "/perception/actions" and stamp in self.truth_actions:
            truth = _boxes(self.truth_actions[stamp])
            for _, box, action, _ in _boxes(message):
                if action == "unknown":
                    continue
                best = max(truth, key=lambda t: _iou(t[1], box), default=None)
                if best is not None and _iou(best[1], box) >= 0.5:
                    scores.actions_scored += 1
                    scores.actions_correct += best[2] == action
        elif topic == "/perception/objects/predicted" and stamp in self.truth_predicted:
            truth = _objects(self.truth_predicted[stamp], "predicted")
            for _, xy, yaw, _, obj in _objects(message, "predicted"):
                paths = obj.kinematics.predicted_paths
                match = min(truth, key=lambda t: np.linalg.norm(t[1] - xy), default=None)
                if not paths or match is None or np.linalg.norm(match[1] - xy) > MATCH_M:
                    continue
                future_paths = match[4].kinematics.predicted_paths
                if not future_paths:
                    continue
                times = future_times()  # both paths at the prediction's times: the messages' steps may differ
                future = path_xy_at(future_paths[0], times)
                mine = path_xy_at(max(paths, key=lambda p: p.confidence), times)
                if not (np.isfinite(future).all() and np.isfinite(mine).all()):
                    continue  # a path shorter than the horizon
                errors = np.linalg.norm(mine - future, axis=1)
                scores.ade.append(float(errors.mean()))
                scores.fde.append(float(errors[-1]))
                twist = obj.kinematics.initial_twist_with_covariance.twist.linear
                velocity = np.array(
                    [np.cos(yaw) * twist.x - np.sin(yaw) * twist.y, np.sin(yaw) * twist.x + np.cos(yaw) * twist.y]
                )
                scores.cv_fde.append(float(np.linalg.norm(xy + 3.0 * velocity - future[-1])))
        elif topic == "/planning/markers":
            for marker in message.markers:
                if marker.ns == "behaviour" and marker.text:
                    scores.behaviours[marker.text.split(":")[0]] += 1

    def metrics(self, sim_results: dict | None = None) -> dict[str, Any]:
        s = self.scores
        confusion = s.confusion
        tp = np.diag(confusion).astype(float)
        union = confusion.sum(0) + confusion.sum(1) - tp
        present = confusion.sum(1) > 0
        iou = np.divide(tp, union, out=np.zeros_like(tp), where=union > 0)
        out: dict[str, Any] = {
            "ground_truth": self.has_truth,
            "segmentation_miou": float(iou[present].mean()) if present.any() else None,
            "segmentation_iou": {CLASS_NAMES[c]: round(float(iou[c]), 3) for c in np.flatnonzero(present)},
            "detection_recall": s.detected / s.visible if s.visible else None,
            "track_precision": s.true_tracks / s.tracks if s.tracks else None,
            "action_accuracy": s.actions_correct / s.actions_scored if s.actions_scored else None,
            "actions_scored": s.actions_scored,
            "prediction_ade_3s": float(np.mean(s.ade)) if s.ade else None,
            "prediction_fde_3s": float(np.mean(s.fde)) if s.fde else None,
            "constant_velocity_fde_3s": float(np.mean(s.cv_fde)) if s.cv_fde else None,
            "behaviours": dict(s.behaviours),
            "nodes": {
                name: {
                    key: values.get(key)
                    for key in (
                        "backend",
                        "processing_ms_p50",
                        "processing_ms_p99",
                        "latency_ms_p50",
                        "latency_ms_p99",
                        "dropped",
                        "bad_inputs",
                    )
                }
                for name, values in sorted(self.diagnostics.items())
            },
        }
        if sim_results:
            out["closed_loop"] = {
                key: sim_results.get(key)
                for key in ("collisions", "min_gap_m", "progress", "max_decel_mps2", "max_jerk_mps3")
            }
        return out

    # --- drawing -------------------------------------------------------------------------------------

    def _frame(self, image_message: Any) -> NDArray[np.uint8]:
        stamp = stamp_to_ns(image_message.header.stamp)
        rgb = np.ascontiguousarray(image_to_numpy(image_message))
        if image_message.encoding == "bgr8":
            rgb = rgb[:, :, ::-1]
        camera = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        labels = self.latest.get("/perception/segmentation/labels")
        if labels is not None:
            overlay = colorize(image_to_numpy(labels))[:, :, ::-1]
            if overlay.shape == camera.shape:
                camera = cv2.addWeighted(camera, 0.6, overlay, 0.4, 0)
        actions = self.latest.get("/perception/actions")
        for _, (u0, v0, u1, v1), action, score in _boxes(actions) if actions is not None else []:
            colour = (0, 220, 255) if action != "unknown" else (160, 160, 160)
            cv2.rectangle(camera, (int(u0), int(v0)), (int(u1), int(v1)), colour, 2)
            text = action if action == "unknown" else f"{action} {score:.2f}"
            cv2.putText(
                camera, text, (int(u0), max(int(v0) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA
            )
        bev = self._bev(stamp)
        camera = cv2.resize(camera, (BEV_SIZE[0], round(camera.shape[0] * BEV_SIZE[0] / camera.shape[1])))
        if camera.shape[0] != BEV_SIZE[1]:
            camera = cv2.resize(camera, BEV_SIZE)
        frame = np.concatenate([camera, bev], axis=1)
        behaviour = self._behaviour_text()
        cv2.rectangle(frame, (0, 0), (frame.shape[1], 22), (0, 0, 0), -1)
        cv2.putText(
            frame,
            f"t = {stamp / 1e9:6.2f} s   {behaviour}",
            (6, 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        return frame

    def _behaviour_text(self) -> str:
        markers = self.latest.get("/planning/markers")
        if markers is None:
            return "planning: -"
        texts = [m.text for m in markers.markers if m.ns == "behaviour" and m.text]
        return texts[0][:110] if texts else "planning: -"

    def _bev(self, stamp: int) -> NDArray[np.uint8]:
        image = np.full((BEV_SIZE[1], BEV_SIZE[0], 3), 24, np.uint8)
        base_in_map = self.poses.at(stamp, tolerance_ns=300_000_000)
        if base_in_map is None:
            return image
        map_to_base = invert_transform(base_in_map)

        def to_pixels(xy_map: NDArray) -> NDArray[np.int32]:
            base = transform_points(map_to_base, np.column_stack([xy_map, np.zeros(len(xy_map))]))
            u = (base[:, 0] + BEV_BEHIND) / BEV_RESOLUTION
            v = BEV_SIZE[1] / 2 - base[:, 1] / BEV_RESOLUTION
            return np.stack([u, v], axis=1).round().astype(np.int32)

        painted = self.latest.get("/perception/fusion/painted_points")
        if painted is not None:
            try:
                lidar_in_base = self.tree.lookup("base_link", painted.header.frame_id)
                xyz, _ = pointcloud2_to_xyz(painted, drop_invalid=False)
                labels = pointcloud2_field(painted, "label", np.uint8)
                points = transform_points(base_in_map @ lidar_in_base, xyz.astype(np.float64))[:, :2]
                pixels = to_pixels(points)
                width, height = BEV_SIZE
                inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
                table = np.full((256, 3), 110.0)  # unpainted points grey; stuff dimmed so that things stand out
                dim = np.where(np.arange(len(PALETTE)) <= TRAIN_ID["sky"], 0.5, 1.0)[:, None]
                table[: len(PALETTE)] = PALETTE[:, ::-1] * dim
                image[pixels[inside, 1], pixels[inside, 0]] = table[labels[inside]].astype(np.uint8)
            except (LookupError, ValueError):
                pass
        predicted = self.latest.get("/perception/objects/predicted")
        for _, xy, yaw, dims, obj in _objects(predicted, "predicted") if predicted is not None else []:
            corners = box_corners(xy[0], xy[1], yaw, dims.x, dims.y)
            cv2.polylines(image, [to_pixels(corners)], True, (255, 220, 0), 2, cv2.LINE_AA)
            paths = obj.kinematics.predicted_paths
            if paths:
                best = max(paths, key=lambda p: p.confidence)
                line = np.array([[xy[0], xy[1]]] + [[p.position.x, p.position.y] for p in best.path])
                cv2.polylines(image, [to_pixels(line)], False, (255, 80, 255), 1, cv2.LINE_AA)
        trajectory = self.latest.get("/planning/trajectory")
        if trajectory is not None and trajectory.poses:
            line = np.array([[p.pose.position.x, p.pose.position.y] for p in trajectory.poses])
            cv2.polylines(image, [to_pixels(line)], False, (60, 255, 60), 3, cv2.LINE_AA)
        ego = box_corners(REAR_AXLE_TO_CENTRE, 0.0, 0.0, EGO_LENGTH, EGO_WIDTH)
        ego_map = transform_points(base_in_map, np.column_stack([ego, np.zeros(4)]))[:, :2]
        cv2.fillPoly(image, [to_pixels(ego_map)], (80, 200, 80))
        return image

    # --- output --------------------------------------------------------------------------------------

    def write(self, metrics: dict[str, Any], key_frames: int = 3) -> dict[str, Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        if self.frames:
            height, width = self.frames[0].shape[:2]
            video = self.out / "demo.mp4"
            writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (width, height))
            for frame in self.frames:
                writer.write(frame)
            writer.release()
            written["video"] = video
            for index, position in enumerate(np.linspace(0, len(self.frames) - 1, key_frames + 2)[1:-1]):
                path = self.out / f"key_frame_{index + 1}.png"
                cv2.imwrite(str(path), self.frames[round(position)])
                written[f"key_frame_{index + 1}"] = path
        table = metrics_table(metrics)
        (self.out / "metrics.md").write_text(table)
        written["metrics"] = self.out / "metrics.md"
        return written


def _format(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def metrics_table(metrics: dict[str, Any]) -> str:
    rows = [
        ("segmentation mIoU (vs ground truth)", metrics.get("segmentation_miou")),
        ("detection recall (visible, < 40 m)", metrics.get("detection_recall")),
        ("track precision (< 40 m)", metrics.get("track_precision")),
        ("action accuracy (box IoU >= 0.5)", metrics.get("action_accuracy")),
        ("prediction ADE 3 s (m)", metrics.get("prediction_ade_3s")),
        ("prediction FDE 3 s (m)", metrics.get("prediction_fde_3s")),
        ("constant-velocity FDE 3 s (m)", metrics.get("constant_velocity_fde_3s")),
    ]
    for key, value in (metrics.get("closed_loop") or {}).items():
        rows.append((f"closed loop: {key}", value))
    lines = ["| metric | value |", "|---|---|", *(f"| {name} | {_format(value)} |" for name, value in rows), ""]
    lines += [
        "| node | backend | processing p50 / p99 (ms) | latency p50 / p99 (ms) | dropped | bad inputs |",
        "|---|---|---|---|---|---|",
    ]
    for name, node in metrics.get("nodes", {}).items():
        value = {key: node.get(key) or "-" for key in node}
        lines.append(
            f"| {name} | {value['backend']} | {value['processing_ms_p50']} / {value['processing_ms_p99']} "
            f"| {value['latency_ms_p50']} / {value['latency_ms_p99']} | {value['dropped']} | {value['bad_inputs']} |"
        )
    return "\n".join(lines) + "\n"
