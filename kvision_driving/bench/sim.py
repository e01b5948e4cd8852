"""``kvision bench sim``: milliseconds per simulator frame and how they grow with the number of actors."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kvision_driving.sim.scenario import EgoSpec, PedestrianSpec, Scenario, VehicleSpec, load_scenario
from kvision_driving.sim.simulator import Simulator


def crowd(actors: int, seed: int = 0) -> Scenario:
    """A straight three-lane road with ``actors`` road users ahead and around ego (70 % vehicles)."""
    rng = np.random.default_rng(seed)
    vehicles, pedestrians = [], []
    for index in range(actors):
        if rng.random() < 0.7:
            lane = int(rng.choice([-3, -2, -1, 1, 2]))
            kind = "car" if rng.random() < 0.85 else "truck"
            s, speed = float(rng.uniform(20, 240)), float(rng.uniform(6, 12))
            vehicles.append(VehicleSpec(kind=kind, road="main", lane=lane, s=s, speed=speed, name=f"v{index}"))
        else:
            pedestrians.append(
                PedestrianSpec(
                    side=str(rng.choice(["right", "left"])),
                    s=float(rng.uniform(20, 200)),
                    speed=float(rng.uniform(0.8, 1.6)),
                    name=f"p{index}",
                )
            )
    return Scenario(
        name=f"crowd{actors}",
        description="benchmark",
        seed=seed,
        duration=10.0,
        layout="straight",
        lanes=3,
        road_length=320.0,
        ego=EgoSpec(lane=0, s=40.0, speed=8.0),
        vehicles=tuple(vehicles),
        pedestrians=tuple(pedestrians),
    )


def time_frames(simulator: Simulator, frames: int) -> dict[str, float]:
    """ms per full frame (camera, labels, lidar, ground truth), measured on lidar steps only."""
    simulator.render()  # warm up caches and the ray-casting library
    full, camera_only = [], []
    for _ in range(frames * 2):
        started = time.perf_counter()
        frame = simulator.render()
        elapsed = (time.perf_counter() - started) * 1e3
        (full if frame.lidar is not None else camera_only).append(elapsed)
        simulator.advance(*simulator.autopilot_command())
    return {
        "full_frame_ms_p50": float(np.median(full)),
        "full_frame_ms_p95": float(np.percentile(full, 95)),
        "camera_frame_ms_p50": float(np.median(camera_only)),
        "triangles": len(simulator.static_mesh.triangles),
    }


def run(frames: int = 40, actor_counts: tuple[int, ...] = (10, 50, 100)) -> dict[str, Any]:
    default = load_scenario("lead_vehicle_braking")
    results = {
        "benchmark": "sim",
        "default": {"scenario": default.name, "actors": None, **time_frames(Simulator(default), frames)},
    }
    results["default"]["actors"] = len(Simulator(default).actors)
    results["scaling"] = [{"actors": n, **time_frames(Simulator(crowd(n)), frames)} for n in actor_counts]
    return results


def summary_table(result: dict[str, Any]) -> str:
    lines = ["| scene | actors | full frame p50 ms | p95 ms | camera-only p50 ms |", "|---|---|---|---|---|"]
    rows = [("default: " + result["default"]["scenario"], result["default"])] + [
        ("crowd", row) for row in result["scaling"]
    ]
    for name, row in rows:
        lines.append(
            f"| {name} | {row['actors']} | {row['full_frame_ms_p50']:.1f} | {row['full_frame_ms_p95']:.1f} | "
            f"{row['camera_frame_ms_p50']:.1f} |"
        )
    return "\n".join(lines)
