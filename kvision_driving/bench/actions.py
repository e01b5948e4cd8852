"""``kvision bench actions``: what the action node does per camera frame with N tracks, on real simulator
frames: crop every track, run the network once on the batch, predict every track; total time with the
model-only share, for each backend. Every measured frame is a 10 Hz sample frame (all crops are due)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kvision_driving.core.boxes import box_corners_3d
from kvision_driving.core.camera import project_box_to_image
from kvision_driving.core.geometry import invert_transform, transform_points, yaw_of
from kvision_driving.inference.backends import create_backend
from kvision_driving.inference.model_card import shipped_model
from kvision_driving.perception.clips import ActionRecogniser, TrackView
from kvision_driving.perception.prediction import MotionState, predict
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import Simulator


def scene_frames(count: int, tracks: int) -> list[tuple[np.ndarray, Any, np.ndarray, np.ndarray, list[TrackView]]]:
    """Held-out frames of the densest scenario, each with the ``tracks`` nearest road users the camera sees
    (a box of at least 12 pixels) as tracks, topped up to ``tracks`` with shifted copies."""
    simulator = Simulator(load_scenario("dense_traffic").with_seed(4242), lidar=None)
    spec = simulator.camera_specs[0]
    frames = []
    while len(frames) < count and not simulator.done:
        frame = simulator.render()
        ego = simulator.ego_pose()
        map_to_optical = invert_transform(ego @ spec.optical_in_base())
        camera = spec.intrinsics()
        visible = [
            o
            for o in frame.objects
            if project_box_to_image(
                transform_points(map_to_optical, box_corners_3d(o.centre, o.yaw, o.size)), camera, 12.0
            )
            is not None
        ]
        objects = sorted(visible, key=lambda o: float(np.linalg.norm(o.centre[:2] - ego[:2, 3])))[:tracks]
        views = [TrackView(str(o.actor_id), o.kind, o.centre, o.yaw, o.size, o.velocity[:2]) for o in objects]
        # A scene rarely shows `tracks` road users at once: top up with copies under other ids, 0.3 m apart,
        # so every measured frame carries the full load of crops.
        copies = 0
        while views and len(views) < tracks:
            source = views[copies % len(objects)]
            copies += 1
            offset = np.array([0.0, 0.3 * copies, 0.0])
            views.append(
                TrackView(
                    f"{source.track_id}+{copies}",
                    source.kind,
                    source.centre + offset,
                    source.yaw,
                    source.size,
                    source.velocity,
                )
            )
        frames.append((frame.cameras[spec.name].rgb, spec.intrinsics(), map_to_optical, ego, views))
        for _ in range(2):
            simulator.advance(*simulator.autopilot_command())
    return frames


def measure(backend: str, frames: list, repeats: int, threads: int) -> dict[str, Any]:
    choice = create_backend(shipped_model("actions.onnx"), backend, threads=threads)
    recogniser = ActionRecogniser(choice.backend, choice.card, max_tracks=64)
    totals, models, predictions = [], [], []
    stamp = 0
    for _ in range(repeats):
        for rgb, camera, map_to_optical, ego, views in frames:
            stamp += 100_000_000
            started = time.perf_counter()
            estimates = recogniser.update(stamp, rgb, camera, map_to_optical, ego[:2, :2].T, views)
            predicted_at = time.perf_counter()
            for view in views:
                estimate = estimates.get(view.track_id)
                state = MotionState(view.centre[:2], view.velocity, view.yaw, view.kind, np.zeros((0, 3)))
                action, confidence = (estimate.action, estimate.confidence) if estimate else ("unknown", 0.0)
                predict(state, action, confidence, ego[:2, 3], yaw_of(ego))
            finished = time.perf_counter()
            totals.append((finished - started) * 1e3)
            predictions.append((finished - predicted_at) * 1e3)
            models.append(recogniser.stats.model_ms[-1])
    skip = len(frames)  # the first pass fills the clips and warms the backend up
    totals, models, predictions = totals[skip:], models[skip:], predictions[skip:]
    return {
        "backend": choice.backend.name,
        "tracks_per_frame": len(frames[0][4]),
        "frames": len(totals),
        "crops_per_frame": recogniser.stats.crops / max(recogniser.stats.batches, 1),
        "total_ms_p50": float(np.median(totals)),
        "total_ms_p95": float(np.percentile(totals, 95)),
        "model_ms_p50": float(np.median(models)),
        "crop_and_batch_ms_p50": float(np.median(np.array(totals) - np.array(models) - np.array(predictions))),
        "prediction_ms_p50": float(np.median(predictions)),
    }


def run(backends: tuple[str, ...], tracks: int = 10, frames: int = 20, repeats: int = 5, threads: int = 0) -> dict:
    scene = scene_frames(frames, tracks)
    return {
        "benchmark": "actions",
        "scene": "dense_traffic seed 4242 (held out), 640x384 camera",
        "results": [measure(backend, scene, repeats, threads) for backend in backends],
    }


def summary_table(result: dict) -> str:
    lines = [
        "| backend | tracks | total p50 (ms) | total p95 (ms) | model p50 (ms) | crops + batch p50 (ms) "
        "| prediction p50 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["results"]:
        lines.append(
            f"| {r['backend']} | {r['tracks_per_frame']} | {r['total_ms_p50']:.1f} | {r['total_ms_p95']:.1f} | "
            f"{r['model_ms_p50']:.1f} | {r['crop_and_batch_ms_p50']:.1f} | {r['prediction_ms_p50']:.1f} |"
        )
    return "\n".join(lines)
