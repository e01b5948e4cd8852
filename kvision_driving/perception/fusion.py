"""One lidar sweep through the whole fusion chain: paint, detect, track. ROS-free; fusion_node and
``kvision eval fusion`` both run this."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.geometry import Matrix4, transform_points, yaw_of
from kvision_driving.perception.objects import Detection, Rejection, detect_objects
from kvision_driving.perception.painting import CameraView, paint
from kvision_driving.perception.tracking import MultiObjectTracker, Track


@dataclass
class FusionSettings:
    max_range: float = 80.0
    min_confidence: float = 0.3
    ground_threshold: float = 0.25
    confirm_hits: int = 3
    max_misses: int = 5


@dataclass
class FusionResult:
    labels: NDArray[np.uint8]  # per input point
    confidence: NDArray[np.float32]
    detections: list[Detection]  # base_link
    tracks: list[Track]  # in ``tracking_frame``
    tracking_frame: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)  # clusters that cannot be what they are painted as


class FusionPipeline:
    def __init__(self, settings: FusionSettings | None = None) -> None:
        self.settings = settings or FusionSettings()
        self.tracker = MultiObjectTracker(self.settings.confirm_hits, self.settings.max_misses)

    def process(
        self,
        stamp_ns: int,
        points_lidar: NDArray[np.floating],
        views: list[CameraView],
        lidar_in_base: Matrix4,
        base_in_map: Matrix4 | None,
        base_frame: str = "base_link",
        map_frame: str = "map",
    ) -> FusionResult:
        import time

        timings = {}
        started = time.perf_counter()
        labels, confidence = paint(points_lidar, views)
        timings["paint"] = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        points_base = transform_points(lidar_in_base, np.asarray(points_lidar, dtype=np.float64))
        settings = self.settings
        rejected: list[Rejection] = []
        detections = detect_objects(
            points_base,
            labels,
            confidence,
            settings.max_range,
            settings.min_confidence,
            settings.ground_threshold,
            rejected=rejected,
        )
        timings["detect"] = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        if base_in_map is not None:  # track in the map frame, so ego motion is not object motion
            ego_yaw = yaw_of(base_in_map)
            to_track = [
                Detection(
                    d.kind,
                    d.confidence,
                    transform_points(base_in_map, d.centre[None])[0],
                    d.yaw + ego_yaw,
                    d.size,
                    d.point_count,
                )
                for d in detections
            ]
            frame = map_frame
        else:
            to_track, frame = detections, base_frame
        tracks = self.tracker.update(to_track, stamp_ns)
        timings["track"] = (time.perf_counter() - started) * 1e3
        return FusionResult(labels, confidence, detections, tracks, frame, timings, rejected)
