"""fusion_node: lidar + segmentation labels -> painted points, 3-D detections, tracks with velocities."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from autoware_perception_msgs.msg import DetectedObjects, TrackedObjects
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.frames import FrameNotFoundError, PoseHistory
from kvision_driving.core.labels import check_train_ids
from kvision_driving.core.stamps import StampOrder
from kvision_driving.perception.fusion import FusionPipeline, FusionSettings
from kvision_driving.perception.painting import (
    UNKNOWN,
    CameraView,
    camera_view,
)
from kvision_driving.ros.convert import (
    ConversionError,
    array_to_pointcloud2,
    camera_info_to_pinhole,
    image_to_numpy,
    make_header,
    odometry_to_state,
    pointcloud2_field,
    pointcloud2_to_xyz,
    stamp_to_ns,
)
from kvision_driving.ros.diagnostics import OK, WARN
from kvision_driving.ros.node import STALE_AFTER, KvisionNode, Skip, run_node
from kvision_driving.ros.object_messages import detected_objects, track_markers, tracked_objects
from kvision_driving.ros.params import ParamSpec
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.tf import StaticTransformListener

LABEL_BUFFER = 10  # label images kept per camera for matching lidar stamps

PARAMS = (
    ParamSpec("lidar_topic", "sensing/lidar/top/points", "Input point cloud"),
    ParamSpec("label_topics", ["perception/segmentation/labels"], "Segmentation label image per camera"),
    ParamSpec(
        "confidence_topics", ["perception/segmentation/confidence"], "Per-pixel confidence per camera ('' if none)"
    ),
    ParamSpec("camera_info_topics", ["sensing/camera/front/camera_info"], "CameraInfo per camera"),
    ParamSpec("max_offset_s", 0.06, "Largest time between a sweep and the label image painting it", 0.0, 1.0),
    ParamSpec("label_wait_s", 0.2, "Wall seconds a sweep waits for its label images before fusing without", 0.0, 5.0),
    ParamSpec("base_frame", "base_link", "Vehicle frame (detections are published in it)"),
    ParamSpec("map_frame", "map", "Tracking frame, from /localization/odometry (falls back to base_frame)"),
    ParamSpec("compensate_ego_motion", True, "Move points by ego's motion between lidar and camera stamps"),
    ParamSpec("max_range", 80.0, "Ignore points farther than this (m)", 1.0, 300.0),
    ParamSpec("min_confidence", 0.3, "Ignore painted points less confident than this", 0.0, 1.0),
    ParamSpec("ground_threshold", 0.25, "Height above the fitted ground plane that counts as an object (m)", 0.0, 2.0),
    ParamSpec("confirm_hits", 3, "Detections before a track is published", 1, 50),
    ParamSpec("max_misses", 5, "Sweeps a confirmed track survives without a detection", 0, 100),
    ParamSpec("publish_markers", True, "Publish RViz markers on /perception/markers (built only while subscribed)"),
    STALE_AFTER,
)


class FusionNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("fusion_node", PARAMS)
        label_topics = list(self.params["label_topics"])
        info_topics = list(self.params["camera_info_topics"])
        confidence_topics = list(self.params["confidence_topics"]) or [""] * len(label_topics)
        if not (len(label_topics) == len(info_topics) == len(confidence_topics)) or not label_topics:
            from kvision_driving.ros.params import ParameterError

            raise ParameterError("label_topics, confidence_topics and camera_info_topics need one entry per camera")
        self.cameras = len(label_topics)
        self.labels: list[deque] = [deque(maxlen=LABEL_BUFFER) for _ in label_topics]
        self.labels_arrived = threading.Condition()
        self.label_waits_shortened = 0  # label waits cut to what keeps a sweep within stale_after_s
        self.confidences: list[dict[int, object]] = [{} for _ in label_topics]
        self.cameras_known: list[PinholeCamera | None] = [None] * self.cameras
        self.unpainted_views = 0
        self.implausible_clusters = 0
        self.poses = PoseHistory()
        self.pipeline = FusionPipeline(
            FusionSettings(
                max_range=float(self.params["max_range"]),
                min_confidence=float(self.params["min_confidence"]),
                ground_threshold=float(self.params["ground_threshold"]),
                confirm_hits=int(self.params["confirm_hits"]),
                max_misses=int(self.params["max_misses"]),
            )
        )
        self.tf = StaticTransformListener(self, on_reject=self.reject)
        sensor = self.input_qos
        for index, topic in enumerate(label_topics):
            self.create_subscription(Image, topic, lambda m, i=index: self._add_labels(i, m), sensor)
            self.create_subscription(CameraInfo, info_topics[index], lambda m, i=index: self._set_info(i, m), sensor)
            if confidence_topics[index]:
                self.create_subscription(
                    Image, confidence_topics[index], lambda m, i=index: self._add_confidence(i, m), sensor
                )
        self.create_subscription(Odometry, "localization/odometry", self.on_odometry, qos_by_name("reliable"))
        out = self.output_qos
        self.painted_pub = self.create_publisher(PointCloud2, "perception/fusion/painted_points", sensor)
        self.detected_pub = self.create_publisher(DetectedObjects, "perception/objects/detected", out)
        self.tracked_pub = self.create_publisher(TrackedObjects, "perception/objects/tracked", out)
        self.markers_pub = self.create_publisher(MarkerArray, "perception/markers", out)
        on_points = self.process_latest("points", self.on_points, stale_after_s=float(self.params["stale_after_s"]))
        self.create_subscription(PointCloud2, str(self.params["lidar_topic"]), on_points, sensor)

    def buffered(self) -> dict[str, int]:
        return {
            **super().buffered(),
            "label_images": sum(len(buffer) for buffer in self.labels),
            "confidence_images": sum(len(store) for store in self.confidences),
            "poses": len(self.poses),
            "tracks": len(self.pipeline.tracker.tracks),
        }

    # --- inputs ------------------------------------------------------------------------------------

    def _add_labels(self, index: int, message: Image) -> None:
        # Checked on arrival, so a bad image is counted once and never displaces a good one in the buffer.
        try:
            labels = image_to_numpy(message)
            if message.encoding != "mono8":
                raise ConversionError(f"labels must be mono8, got {message.encoding}")
            check_train_ids(labels)
        except (ConversionError, ValueError) as error:
            self.reject(f"camera {index} labels", error)
            return
        camera = self.cameras_known[index]
        if camera is not None and labels.shape != (camera.height, camera.width):
            size = f"{camera.width}x{camera.height}"
            self.reject(f"camera {index} labels", f"{labels.shape} do not match camera info {size}")
            return
        with self.labels_arrived:
            self.labels[index].append(message)
            self.labels_arrived.notify_all()

    def _labels_settled(self, index: int, stamp_ns: int, max_offset: int) -> bool:
        """A label image close enough to the sweep exists (with its confidence image, once this camera has sent
        any: painting without it would take every pixel as certain), or a later one arrived (the close one
        never will)."""
        stamps = [stamp_to_ns(m.header.stamp) for m in self.labels[index]]
        if any(s > stamp_ns + max_offset for s in stamps):
            return True
        close = [s for s in stamps if abs(s - stamp_ns) <= max_offset]
        confidences = self.confidences[index]
        return bool(close) and (not confidences or min(close, key=lambda s: abs(s - stamp_ns)) in confidences)

    def wait_for_labels(self, stamp_ns: int) -> None:
        """Segmentation is usually slower than the lidar driver: give the sweep's label images up to
        ``label_wait_s`` to arrive instead of fusing an unpainted cloud, and with ``stale_after_s`` set no
        longer than the sweep stays within it (an unpainted answer on time beats a painted one too late;
        counted in ``label_waits_shortened`` when that ends a wait)."""
        max_offset = int(float(self.params["max_offset_s"]) * 1e9)
        wait_s = float(self.params["label_wait_s"])
        budget_s = float(self.params["stale_after_s"])
        age_s = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9
        shortened = budget_s > 0.0 and budget_s - age_s < wait_s
        deadline = time.monotonic() + (max(budget_s - age_s, 0.0) if shortened else wait_s)
        with self.labels_arrived:
            for index in range(self.cameras):
                while not self._labels_settled(index, stamp_ns, max_offset):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if shortened:
                            self.label_waits_shortened += 1
                            self.health.set_value("label_waits_shortened", self.label_waits_shortened)
                        return
                    self.labels_arrived.wait(remaining)

    def _set_info(self, index: int, message: CameraInfo) -> None:
        try:  # a bad message is skipped: the last good calibration stays in use
            self.cameras_known[index] = camera_info_to_pinhole(message)
        except ConversionError as error:
            self.reject(f"camera {index} info", error)

    def _add_confidence(self, index: int, message: Image) -> None:
        with self.labels_arrived:
            store = self.confidences[index]
            store[stamp_to_ns(message.header.stamp)] = message
            while len(store) > LABEL_BUFFER:
                store.pop(next(iter(store)))
            self.labels_arrived.notify_all()

    def on_odometry(self, message: Odometry) -> None:
        try:
            state = odometry_to_state(message)
        except ConversionError as error:
            self.reject("odometry", error)
            return
        self.poses.add(state.stamp_ns, state.pose)

    # --- one sweep ---------------------------------------------------------------------------------

    def on_points(self, message: PointCloud2) -> None:
        stamp_ns = stamp_to_ns(message.header.stamp)
        xyz, kept = pointcloud2_to_xyz(message)
        if len(xyz) == 0:
            raise ConversionError("empty point cloud (no valid points)")
        lidar_frame = message.header.frame_id
        base_frame = str(self.params["base_frame"])
        try:
            lidar_in_base = self.tf.lookup(base_frame, lidar_frame)
        except FrameNotFoundError as error:
            raise ConversionError(f"no extrinsics for {lidar_frame}: {error}") from error
        order = self.check_order("points", stamp_ns)
        if order.skip:  # a reordered or repeated sweep would step the tracker back in time
            raise Skip
        if order is StampOrder.JUMP_BACK:  # (the pose history starts over by itself when odometry jumps)
            self.pipeline.tracker.reset()
            with self.labels_arrived:
                for buffer in self.labels:
                    buffer.clear()
        self.wait_for_labels(stamp_ns)
        views = self.camera_views(stamp_ns, lidar_in_base, base_frame)
        result = self.pipeline.process(
            stamp_ns, xyz, views, lidar_in_base, self.poses.at(stamp_ns), base_frame, str(self.params["map_frame"])
        )
        for stage, milliseconds in result.timings_ms.items():
            self.health.add_timing(stage, milliseconds)
        header = make_header(stamp_ns, result.tracking_frame)
        self.tracked_pub.publish(tracked_objects(result.tracks, header))  # first: prediction and planning wait on it
        self.publish_painted(message, xyz, kept, result.labels, result.confidence)
        self.detected_pub.publish(detected_objects(result.detections, make_header(stamp_ns, base_frame)))
        if self.params["publish_markers"] and self.listened(self.markers_pub):
            self.markers_pub.publish(track_markers(result.tracks, header))
        painted_share = float(np.mean(result.labels != UNKNOWN))
        self.health.set_value("cameras_used", len(views))
        self.health.set_value("painted_share", f"{painted_share:.2f}")
        self.health.set_value("tracks", len(result.tracks))
        self.implausible_clusters += len(result.rejected)  # painted as road users, shaped like none
        self.health.set_value("implausible_clusters", self.implausible_clusters)
        if not views:
            self.health.set_state(WARN, "no label image within max_offset_s: nothing painted")
        else:
            self.health.set_state(OK, "fusing")

    def camera_views(self, stamp_ns: int, lidar_in_base: np.ndarray, base_frame: str) -> list[CameraView]:
        views = []
        max_offset = int(float(self.params["max_offset_s"]) * 1e9)
        for index in range(self.cameras):
            with self.labels_arrived:
                candidates = list(self.labels[index])
            if not candidates:
                continue
            nearest = min(candidates, key=lambda m: abs(stamp_to_ns(m.header.stamp) - stamp_ns))
            label_stamp = stamp_to_ns(nearest.header.stamp)
            if abs(label_stamp - stamp_ns) > max_offset:
                # Late segmentation, not a bad message: counted on its own, so bad inputs keep meaning bad input.
                self.unpainted_views += 1
                self.health.set_value("views_without_labels", self.unpainted_views)
                continue
            camera = self.cameras_known[index]
            if camera is None:
                self.reject(f"camera {index}", "no camera info received yet")
                continue
            try:
                labels = image_to_numpy(nearest)
                optical_in_base = self.tf.lookup(base_frame, nearest.header.frame_id)
            except (ConversionError, FrameNotFoundError) as error:
                self.reject(f"camera {index}", error)
                continue
            if labels.ndim != 2 or labels.shape != (camera.height, camera.width):
                self.reject(
                    f"camera {index}", f"labels {labels.shape} do not match camera info {camera.width}x{camera.height}"
                )
                continue
            compensate = bool(self.params["compensate_ego_motion"])
            confidence_message = self.confidences[index].get(label_stamp)
            confidence = None
            if confidence_message is not None:
                confidence = image_to_numpy(confidence_message).astype(np.float32) / 255.0
                if confidence.shape != labels.shape:
                    confidence = None
            views.append(
                camera_view(
                    camera,
                    labels,
                    confidence,
                    optical_in_base=optical_in_base,
                    lidar_in_base=lidar_in_base,
                    base_at_lidar=self.poses.at(stamp_ns) if compensate else None,
                    base_at_camera=self.poses.at(label_stamp) if compensate else None,
                )
            )
        return views

    def publish_painted(
        self, message: PointCloud2, xyz: np.ndarray, kept: np.ndarray | None, labels: np.ndarray, confidence: np.ndarray
    ) -> None:
        try:
            intensity = pointcloud2_field(message, "intensity")
            intensity = intensity if kept is None else intensity[kept]
        except ConversionError:
            intensity = np.zeros(len(xyz), np.float32)
        points = np.empty(
            len(xyz),
            dtype=[
                ("x", "<f4"),
                ("y", "<f4"),
                ("z", "<f4"),
                ("intensity", "<f4"),
                ("label", "u1"),
                ("confidence", "<f4"),
            ],
        )
        points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        points["intensity"], points["label"], points["confidence"] = intensity, labels, confidence
        self.painted_pub.publish(array_to_pointcloud2(points, message.header))


def make_node() -> Node:
    return FusionNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
