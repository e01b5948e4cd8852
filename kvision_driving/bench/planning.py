"""``kvision bench planning``: one planning cycle with N predicted road users (two hypotheses each) and an
occupancy grid built from a real simulator sweep, as planning_node runs it at 10 Hz."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kvision_driving.core.collector import freeze_startup_objects
from kvision_driving.core.geometry import transform_points
from kvision_driving.core.vehicle import EgoState
from kvision_driving.planning.occupancy import OccupancyGrid, build_grid
from kvision_driving.planning.planner import Planner
from kvision_driving.planning.scene import PredictedPath, RoadUser
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import Simulator


def busy_scene(objects: int, seed: int = 0) -> list[RoadUser]:
    """Road users around ego on a straight road: both directions, every lane, pedestrians at the kerb."""
    rng = np.random.default_rng(seed)
    users = []
    t = np.arange(31) * 0.1
    for index in range(objects):
        pedestrian = index % 5 == 4
        lane_y = rng.choice([-5.25, -1.75, 1.75, 5.25]) if not pedestrian else rng.choice([-8.0, 8.0])
        heading = 0.0 if lane_y < 0 else np.pi
        speed = 0.0 if index % 7 == 0 else (1.3 if pedestrian else rng.uniform(5, 12))
        start = np.array([rng.uniform(45, 140), lane_y])
        direction = np.array([np.cos(heading), np.sin(heading)])
        straight = start + (speed * t)[:, None] * direction
        swerve = straight + (np.clip(t - 1.0, 0, None) * 1.5)[:, None] * np.array([-direction[1], direction[0]])
        paths = (
            PredictedPath(straight, np.full(31, heading), 0.1, 0.7),
            PredictedPath(swerve, np.full(31, heading), 0.1, 0.3),
        )
        size = (0.6, 0.6) if pedestrian else (4.5, 1.8)
        kind = "pedestrian" if pedestrian else "car"
        users.append(RoadUser(f"obj{index}", kind, start, heading, *size, speed, "moving", paths))
    return users


def simulator_grid() -> OccupancyGrid:
    """The occupancy grid of one real sweep of the dense scenario, painted with the exact labels."""
    simulator = Simulator(load_scenario("dense_traffic").with_seed(4242))
    while True:
        frame = simulator.render()
        if frame.lidar is not None:
            break
        simulator.advance(*simulator.autopilot_command())
    xyz = np.stack([frame.lidar["x"], frame.lidar["y"], frame.lidar["z"]], axis=1).astype(np.float64)
    pose = simulator.ego_pose()
    points = transform_points(pose @ simulator.lidar_spec.in_base(), xyz)
    return build_grid(points, frame.lidar["label"], float(pose[2, 3]), pose[:2, 3])


def run(objects: tuple[int, ...] = (0, 10, 20, 40), cycles: int = 100) -> dict[str, Any]:
    route = np.stack([np.arange(-40.0, 400.0), np.full(440, -1.75)], axis=1)
    grid = simulator_grid()
    freeze_startup_objects()  # as planning_node does after construction: no full collection mid-cycle
    results = []
    for count in objects:
        planner = Planner(route)
        users = busy_scene(count)
        timings = []
        for cycle in range(cycles):
            ego = EgoState(40.0 + 0.1 * cycle, -1.75, 0.0, 10.0)
            started = time.perf_counter()
            planner.plan(ego, users, grid, stamp_s=cycle * 0.1)
            timings.append((time.perf_counter() - started) * 1e3)
        results.append(
            {
                "objects": count,
                "hypotheses": 2 * count,
                "cycle_ms_p50": float(np.median(timings[5:])),
                "cycle_ms_p95": float(np.percentile(timings[5:], 95)),
                "cycle_ms_max": float(np.max(timings[5:])),
            }
        )
    return {"benchmark": "planning", "grid_cells": int(grid.cells.size), "results": results}


def summary_table(result: dict) -> str:
    lines = ["| objects | hypotheses | cycle p50 (ms) | p95 (ms) | max (ms) |", "|---|---|---|---|---|"]
    for r in result["results"]:
        lines.append(
            f"| {r['objects']} | {r['hypotheses']} | {r['cycle_ms_p50']:.1f} | {r['cycle_ms_p95']:.1f} | "
            f"{r['cycle_ms_max']:.1f} |"
        )
    return "\n".join(lines)
