"""action_node: camera + tracked objects in; recognised actions, predicted objects and markers out.

Camera frames go through the action recogniser (per-track clip buffers, one network batch per frame,
the newest frame only: a slow CPU drops frames, counted, rather than queueing them). Every tracked
objects message is answered with predicted objects at its stamp, conditioned on the latest actions,
so planning gets predictions at the tracker's rate even while the camera is missing (actions then
age out to ``unknown`` and the predictor falls back to the track's kinematics).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

import numpy as np
from autoware_perception_msgs.msg import PredictedObjects, TrackedObjects
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2DArray
from visualization_msgs.msg import MarkerArray

from kvision_driving.core.actions import UNKNOWN_ACTION
from kvision_driving.core.frames import FrameNotFoundError, PoseHistory
from kvision_driving.core.geometry import invert_transform, yaw_of
from kvision_driving.core.stamps import StampOrder
from kvision_driving.perception.clips import ActionEstimate, ActionRecogniser, TrackView
from kvision_driving.perception.prediction import MotionState, predict
from kvision_driving.perception.segmentation import to_rgb
from kvision_driving.ros.action_messages import action_detections, predicted_objects, prediction_markers, track_views
from kvision_driving.ros.convert import (
    ConversionError,
    camera_info_to_pinhole,
    image_to_numpy,
    make_header,
    odometry_to_state,
    stamp_to_ns,
)
from kvision_driving.ros.diagnostics import OK, WARN
from kvision_driving.ros.models import MODEL_PARAMS, open_model
from kvision_driving.ros.node import STALE_AFTER, KvisionNode, Skip, run_node
from kvision_driving.ros.params import ParameterError, ParamSpec
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.tf import StaticTransformListener

HISTORY_S = 1.5  # track positions kept for the predictor's turn rate and deceleration

PARAMS = (
    *MODEL_PARAMS,
    ParamSpec("camera_topic", "sensing/camera/front/image_raw", "Camera image"),
    ParamSpec("camera_info_topic", "sensing/camera/front/camera_info", "Camera intrinsics"),
    ParamSpec("objects_topic", "perception/objects/tracked", "Tracked objects (map frame)"),
    ParamSpec("base_frame", "base_link", "Vehicle frame"),
    ParamSpec("min_box_px", 12.0, "Smallest image box worth a crop (pixels)", 2.0, 500.0),
    ParamSpec("max_tracks", 64, "Clip buffers kept at most (the oldest track is evicted beyond)", 1, 1000),
    ParamSpec("evict_after_s", 1.0, "A track unseen this long loses its clip", 0.1, 60.0),
    ParamSpec("max_track_age_s", 0.3, "Tracks older than this are not projected into a camera frame", 0.01, 5.0),
    ParamSpec("publish_markers", True, "RViz markers on /perception/actions/markers (built only while subscribed)"),
    ParamSpec(
        "max_rate_hz", 10.0, "Camera frames used per second, by stamp (the clips' rate suffices); 0: all", 0.0, 1000.0
    ),
    STALE_AFTER,
)


class ActionNode(KvisionNode):
    def __init__(self) -> None:
        super().__init__("action_node", PARAMS)
        model, choice = open_model(self, "actions.onnx")
        try:
            self.recogniser = ActionRecogniser(
                choice.backend,
                choice.card,
                float(self.params["min_box_px"]),
                int(self.params["max_tracks"]),
                float(self.params["evict_after_s"]),
            )
        except ValueError as error:
            raise ParameterError(f"model {model}: {error}") from error
        self.lock = threading.Lock()
        self.recogniser_stale = False
        self.camera = None
        self.poses = PoseHistory()
        self.tf = StaticTransformListener(self, on_reject=self.reject)
        self.tracks: list[TrackView] = []
        self.tracks_stamp_ns = -1
        self.actions: dict[str, ActionEstimate] = {}
        self.history: dict[str, deque] = defaultdict(lambda: deque(maxlen=40))
        self.ego_pose: np.ndarray | None = None
        out = self.output_qos
        self.actions_pub = self.create_publisher(Detection2DArray, "perception/actions", out)
        self.predicted_pub = self.create_publisher(PredictedObjects, "perception/objects/predicted", out)
        self.markers_pub = self.create_publisher(MarkerArray, "perception/actions/markers", out)
        self.create_subscription(CameraInfo, str(self.params["camera_info_topic"]), self.on_camera_info, self.input_qos)
        self.create_subscription(Odometry, "localization/odometry", self.on_odometry, qos_by_name("reliable"))
        self.create_subscription(TrackedObjects, str(self.params["objects_topic"]), self.on_tracks, out)
        self.create_subscription(
            Image,
            str(self.params["camera_topic"]),
            self.process_latest(
                "image", self.on_image, float(self.params["max_rate_hz"]), float(self.params["stale_after_s"])
            ),
            self.input_qos,
        )
        self.health.set_state(WARN, "waiting for tracks and camera frames")

    # --- inputs ------------------------------------------------------------------------------------

    def on_camera_info(self, message: CameraInfo) -> None:
        try:
            self.camera = camera_info_to_pinhole(message)
        except ConversionError as error:
            self.reject("camera_info", error)

    def on_odometry(self, message: Odometry) -> None:
        try:
            state = odometry_to_state(message)
        except ConversionError as error:
            self.reject("odometry", error)
            return
        order = self.check_order("odometry", state.stamp_ns)
        if order.skip:
            return
        with self.lock:
            if order is StampOrder.JUMP_BACK:
                self.start_over()
            self.poses.add(state.stamp_ns, state.pose)
            self.ego_pose = state.pose

    def buffered(self) -> dict[str, int]:
        with self.lock:
            return {
                **super().buffered(),
                "poses": len(self.poses),
                "track_histories": sum(len(points) for points in self.history.values()),
                "clips": len(self.recogniser.clips),
            }

    def start_over(self) -> None:
        """Time went back (a bag loop, a simulator reset): forget everything kept over time. Caller holds the lock."""
        self.poses.clear()
        self.recogniser_stale = True  # reset by the image worker, the recogniser's only user
        self.history.clear()
        self.actions = {}
        self.tracks, self.tracks_stamp_ns = [], -1

    def on_tracks(self, message: TrackedObjects) -> None:
        """Predict every track at the tracker's stamp with the latest actions, publish at once."""
        started = time.perf_counter()
        try:
            if message.header.frame_id != "map":
                raise ConversionError(f"tracked objects must be in map, got {message.header.frame_id!r}")
            views = track_views(message)
        except ConversionError as error:
            self.reject("tracked_objects", error)
            return
        stamp_ns = stamp_to_ns(message.header.stamp)
        order = self.check_order("tracks", stamp_ns)
        if order.skip:
            return
        with self.lock:
            if order is StampOrder.JUMP_BACK:
                self.history.clear()
            self.tracks, self.tracks_stamp_ns = views, stamp_ns
            actions, ego = dict(self.actions), self.ego_pose
            live = {view.track_id for view in views}
            for track_id in [tid for tid in self.history if tid not in live]:
                del self.history[track_id]
            for view in views:
                self.history[view.track_id].append((stamp_ns, float(view.centre[0]), float(view.centre[1])))
            histories = {tid: list(points) for tid, points in self.history.items()}
        ego_xy = ego[:2, 3] if ego is not None else np.zeros(2)
        ego_yaw = yaw_of(ego) if ego is not None else 0.0
        hypotheses = {}
        for view in views:
            past = [(t, x, y) for t, x, y in histories.get(view.track_id, []) if stamp_ns - t <= HISTORY_S * 1e9]
            track = np.array([((t - stamp_ns) * 1e-9, x, y) for t, x, y in past]).reshape(-1, 3)
            state = MotionState(view.centre[:2], view.velocity, view.yaw, view.kind, track)
            estimate = actions.get(view.track_id)
            action, confidence = (estimate.action, estimate.confidence) if estimate else (UNKNOWN_ACTION, 0.0)
            hypotheses[view.track_id] = predict(state, action, confidence, ego_xy, ego_yaw)
        header = make_header(stamp_ns, "map")
        self.predicted_pub.publish(predicted_objects(message, hypotheses, header))
        if self.params["publish_markers"] and self.listened(self.markers_pub):
            self.markers_pub.publish(prediction_markers(views, hypotheses, actions, header))
        self.health.add_timing("prediction", (time.perf_counter() - started) * 1e3)

    # --- one camera frame --------------------------------------------------------------------------

    def on_image(self, message: Image) -> None:
        stamp_ns = stamp_to_ns(message.header.stamp)
        try:
            rgb = to_rgb(image_to_numpy(message), message.encoding)
            optical_in_base = self.tf.lookup(str(self.params["base_frame"]), message.header.frame_id)
        except (ValueError, FrameNotFoundError) as error:  # ConversionError is a ValueError
            raise ConversionError(str(error)) from error
        order = self.check_order("image", stamp_ns)
        if order.skip:
            raise Skip
        with self.lock:
            if order is StampOrder.JUMP_BACK or self.recogniser_stale:
                self.recogniser.reset()
                self.recogniser_stale = False
            camera, base_in_map = self.camera, self.poses.at(stamp_ns)
            tracks, tracks_stamp_ns = self.tracks, self.tracks_stamp_ns
        if camera is None or base_in_map is None:
            raise ConversionError("no camera_info yet" if camera is None else "no odometry at the image stamp")
        if (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise ConversionError(
                f"{rgb.shape[1]}x{rgb.shape[0]} image but camera_info says {camera.width}x{camera.height}"
            )
        age_s = (stamp_ns - tracks_stamp_ns) * 1e-9
        if abs(age_s) > float(self.params["max_track_age_s"]):
            tracks = []  # stale tracks would put the crops in the wrong place
        else:  # move the tracks to the image stamp with their velocity
            tracks = [
                TrackView(t.track_id, t.kind, t.centre + np.append(t.velocity * age_s, 0.0), t.yaw, t.size, t.velocity)
                for t in tracks
            ]
        map_to_optical = invert_transform(base_in_map @ optical_in_base)
        estimates = self.recogniser.update(stamp_ns, rgb, camera, map_to_optical, base_in_map[:2, :2].T, tracks)
        with self.lock:
            self.actions = estimates
        self.actions_pub.publish(action_detections(estimates, message.header))
        stats = self.recogniser.stats
        if stats.model_ms:
            self.health.add_timing("model", stats.model_ms[-1])
        self.health.set_value("tracks_with_clips", len(self.recogniser.clips))
        self.health.set_value("clip_restarts", stats.restarts)
        self.health.set_value("evicted", stats.evicted)
        known = sum(1 for estimate in estimates.values() if estimate.action != UNKNOWN_ACTION)
        self.health.set_state(OK, f"{known}/{len(estimates)} visible tracks with an action")


def make_node() -> Node:
    return ActionNode()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
