"""``kvision bench fusion``: painting + clustering + tracking per sweep, on a simulator sweep (64x1024) and a
real KITTI HDL-64E sweep (about 120k points)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from kvision_driving.core.geometry import invert_transform, make_transform
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.data.kitti import VELODYNE_HEIGHT, find_frames
from kvision_driving.perception.fusion import FusionPipeline
from kvision_driving.perception.painting import CameraView
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import Simulator


def _time(
    pipeline: FusionPipeline,
    frames: list[tuple[int, np.ndarray, list[CameraView], np.ndarray, np.ndarray | None]],
    repeats: int,
) -> dict[str, float]:
    totals, stages = [], {"paint": [], "detect": [], "track": []}
    for _ in range(repeats):
        for stamp, xyz, views, lidar_in_base, pose in frames:
            started = time.perf_counter()
            result = pipeline.process(stamp, xyz, views, lidar_in_base, pose)
            totals.append((time.perf_counter() - started) * 1e3)
            for stage, value in result.timings_ms.items():
                stages[stage].append(value)
        stamp_shift = frames[-1][0] - frames[0][0] + 100_000_000
        frames = [(stamp + stamp_shift, *rest) for stamp, *rest in frames]
    return {
        "points": int(np.mean([len(f[1]) for f in frames])),
        "total_ms_p50": float(np.median(totals)),
        "total_ms_p95": float(np.percentile(totals, 95)),
        **{f"{stage}_ms_p50": float(np.median(values)) for stage, values in stages.items()},
    }


def simulator_frames(count: int = 20) -> list:
    simulator = Simulator(load_scenario("dense_traffic").with_seed(4242))
    spec, lidar = simulator.camera_specs[0], simulator.lidar_spec
    frames = []
    while len(frames) < count:
        frame = simulator.render()
        if frame.lidar is not None:
            xyz = np.stack([frame.lidar["x"], frame.lidar["y"], frame.lidar["z"]], axis=1).astype(np.float64)
            view = CameraView(
                spec.intrinsics(),
                frame.cameras[spec.name].labels,
                None,
                invert_transform(spec.optical_in_base()) @ lidar.in_base(),
            )
            frames.append((frame.stamp_ns, xyz, [view], lidar.in_base(), simulator.ego_pose()))
        simulator.advance(*simulator.autopilot_command())
    return frames


def kitti_frames(root: Path) -> list:
    (frame,) = find_frames(root)
    height, width = frame.image.shape[:2]
    labels = np.full((height, width), TRAIN_ID["road"], np.uint8)
    for obj in frame.objects:  # the labelled road users as a perfect segmentation would mark them
        left, top, right, bottom = (round(v) for v in obj.box_2d)
        labels[top:bottom, left:right] = TRAIN_ID["person"] if obj.kind == "pedestrian" else TRAIN_ID["car"]
    view = CameraView(frame.calibration.camera(width, height), labels, None, frame.calibration.velodyne_to_camera2())
    lidar_in_base = make_transform(translation=[0.0, 0.0, VELODYNE_HEIGHT])
    xyz = frame.points[:, :3].astype(np.float64)
    return [(100_000_000_000 + i * 100_000_000, xyz, [view], lidar_in_base, None) for i in range(5)]


def run(kitti_root: Path, repeats: int = 3) -> dict[str, Any]:
    return {
        "benchmark": "fusion",
        "simulator_64x1024": _time(FusionPipeline(), simulator_frames(), repeats),
        "kitti_hdl64": _time(FusionPipeline(), kitti_frames(kitti_root), repeats * 4),
    }


def summary_table(result: dict[str, Any]) -> str:
    lines = ["| sweep | points | total p50 ms | p95 ms | paint | detect | track |", "|---|---|---|---|---|---|---|"]
    for name in ("simulator_64x1024", "kitti_hdl64"):
        row = result[name]
        lines.append(
            f"| {name} | {row['points']} | {row['total_ms_p50']:.1f} | {row['total_ms_p95']:.1f} | "
            f"{row['paint_ms_p50']:.1f} | {row['detect_ms_p50']:.1f} | {row['track_ms_p50']:.1f} |"
        )
    return "\n".join(lines)
