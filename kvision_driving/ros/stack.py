"""The stack's processes in one place, and a closed-loop run of them against the simulator.

``full``: segmentation -> fusion -> action -> planning, every node a process, the simulator in
lockstep waiting for each trajectory. ``ground-truth``: planning alone on the simulator's exact
objects, futures and actions, to tell planning errors from perception errors.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from kvision_driving.resources import installed_path
from kvision_driving.ros.graph import RosGraph

MODES = ("full", "ground-truth")


def node_command(executable: str, config: str | None, *overrides: str) -> list[str]:
    command = [executable, "--ros-args"]
    if config:
        command += ["--params-file", str(installed_path("config", f"{config}.yaml"))]
    for override in ("use_sim_time:=true", *overrides):
        command += ["-p", override]
    return command


def stack_processes(
    mode: str, backend: str = "onnxruntime", lockstep: bool = True, stale_after_s: float = 0.0
) -> list[tuple[str, list[str]]]:
    """(name, command) of every process of the stack besides the simulator, upstream first.

    ``lockstep``: for a simulator that waits for a plan at every step, planning plans at every odometry
    message; otherwise it runs as configured for a vehicle (config/planning.yaml). ``stale_after_s`` > 0:
    the perception nodes drop inputs already that old when their turn comes (ros.node.STALE_AFTER)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    planning_rate = ("max_rate_hz:=0.0",) if lockstep else ()
    if mode == "ground-truth":
        return [
            (
                "planning",
                node_command(
                    "planning_node",
                    "planning",
                    "objects_topic:=/ground_truth/objects/predicted",
                    "actions_topic:=/ground_truth/actions",
                    "points_topic:=''",
                    "labels_topic:=''",
                    "monitored_nodes:=['']",
                    *planning_rate,
                ),
            )
        ]
    fresh = (f"stale_after_s:={stale_after_s}",) if stale_after_s > 0 else ()
    return [
        ("segmentation", node_command("segmentation_node", "segmentation", f"backend:={backend}", *fresh)),
        ("fusion", node_command("fusion_node", "fusion", *fresh)),
        ("action", node_command("action_node", "action", f"backend:={backend}", *fresh)),
        # In lockstep the simulator waits for each plan: a tight sync keeps it from running ahead of perception.
        (
            "planning",
            node_command("planning_node", "planning", *(("input_sync_s:=0.1", *planning_rate) if lockstep else ())),
        ),
    ]


@dataclass
class ClosedLoopRun:
    scenario: str
    mode: str
    results: dict
    wall_s: float
    logs: Path


def run_closed_loop(
    scenario: str,
    mode: str,
    out: Path,
    seed: int = -1,
    duration_s: float = 0.0,
    timeout_s: float = 1800.0,
    backend: str = "onnxruntime",
) -> ClosedLoopRun:
    """One scenario closed loop on a private DDS domain; the simulator's score (collisions, minimum gap,
    progress, deceleration, jerk) as a dict. Raises RuntimeError naming the process that failed."""
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / f"{scenario}.json"
    results_path.unlink(missing_ok=True)
    logs = out / "logs" / scenario
    started = time.monotonic()
    with RosGraph(logs) as graph:
        for name, command in stack_processes(mode, backend):
            graph.start(name, command)
        graph.start(
            "sim",
            node_command(
                "sim_node",
                "sim",
                f"scenario:={scenario}",
                f"seed:={seed}",
                f"duration_s:={float(duration_s)}",
                "end_at_goal:=true",
                f"results_path:={results_path}",
                "clock_mode:=lockstep",
                "drive:=planner",
                "lockstep_timeout_s:=5.0" if mode == "full" else "lockstep_timeout_s:=1.0",
                f"sensors:={str(mode == 'full').lower()}",  # planning on ground truth reads no sensor
                "planner_timeout_s:=120.0",
                "start_delay_s:=2.0",
            ),
        )
        code = graph.wait("sim", timeout_s)
        failed = [name for name, _ in stack_processes(mode, backend) if not graph.alive(name)]
        if code != 0 or not results_path.exists():
            raise RuntimeError(f"{scenario}: the simulator ended with {code}:\n{graph.log('sim')[-3000:]}")
        if failed:
            raise RuntimeError(f"{scenario}: {', '.join(failed)} died during the run:\n{graph.log(failed[0])[-3000:]}")
    return ClosedLoopRun(scenario, mode, json.loads(results_path.read_text()), time.monotonic() - started, logs)


def results_table(runs: list[ClosedLoopRun]) -> str:
    """A Markdown table of closed-loop results, one row per scenario."""
    lines = [
        "| scenario | perception | collisions | min gap (m) | route completion | goal (m) | at goal (s) / limit "
        "| passable | max decel (m/s2) | max jerk (m/s3) | success | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        r = run.results
        gap = "-" if r.get("min_gap_m") is None else f"{r['min_gap_m']:.2f}"
        reached = "-" if r.get("goal_reached_s") is None else f"{r['goal_reached_s']:.1f}"
        lines.append(
            f"| {run.scenario} | {run.mode} | {r['collisions']} | {gap} | {r['progress']:.2f} | {r['goal_m']:.0f} | "
            f"{reached} / {r['time_limit_s']:.0f} | {'yes' if r['passable'] else 'no'} | {r['max_decel_mps2']:.2f} | "
            f"{r['max_jerk_mps3']:.1f} | {'yes' if r['success'] else 'NO'} | {run.wall_s:.0f} |"
        )
    return "\n".join(lines) + "\n"
