"""``kvision bench pipeline``: the whole stack on a recorded simulator bag, at sensor rates.

Every node is a process on a private domain; ``kvision replay`` plays the bag's sensors (camera 20 Hz,
lidar 10 Hz, odometry, tf, route) with /clock. Reported, in the spirit of ros2_benchmark: per node
processing time p50/p95/p99/max, input rate, drops and bad inputs (from its /diagnostics), sensor
messages lost in transport before a node's callback (best effort on a busy machine), CPU and
RSS per process (psutil), and end-to-end latency from sensor capture to the trajectory that
accounts for it: a trajectory's arrival minus the first arrival of the sensor messages stamped like
the newest predicted objects that had arrived before it (arrivals as seen by the benchmark's own
subscribers, which read the big messages raw).
The same bag runs once per backend (ONNX Runtime, torch eager) in one invocation.
Before the measured replay, the bag's last ``warmup_s`` seconds play unmeasured (ros2_benchmark's
warm-up): the first inferences of a fresh process (allocations, lazy initialisation) are not what the
stack costs. The measured replay then starts at the bag's beginning; the nodes see the clock jump back
and reset, as on a looped bag. Counters (inputs, drops...) and end-to-end latency cover the measured
replay only; the nodes' processing-time percentiles are over their rolling windows, warm-up included.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from autoware_perception_msgs.msg import PredictedObjects, TrackedObjects
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Path as PathMsg
from sensor_msgs.msg import Image, PointCloud2

from kvision_driving.bench.cpu_limit import CpuLimit
from kvision_driving.bench.processes import ProcessSampler
from kvision_driving.core.collector import freeze_startup_objects
from kvision_driving.data.bag_source import open_bag
from kvision_driving.ros.diagnostics import buffer_sizes, status_values
from kvision_driving.ros.graph import RosGraph
from kvision_driving.ros.probe import GraphProbe
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.ros.stack import stack_processes

CAMERA = "/sensing/camera/front/image_raw"
LIDAR = "/sensing/lidar/top/points"
SENSOR_TOPICS = (
    "/tf_static",
    "/tf",
    "/planning/route",
    "/localization/odometry",
    CAMERA,
    "/sensing/camera/front/camera_info",
    LIDAR,
)
NODES = ("segmentation_node", "fusion_node", "action_node", "planning_node")
#: The sensor stream each perception node counts as its inputs: what the benchmark's own subscriber received
#: there and the node did not is lost in transport (best-effort QoS on a busy machine), not a node's drop.
SENSOR_INPUTS = {"segmentation_node": CAMERA, "fusion_node": LIDAR}
LABELS = "/perception/segmentation/labels"
TRACKED = "/perception/objects/tracked"
PREDICTED = "/perception/objects/predicted"
TRAJECTORY = "/planning/trajectory"
DIAGNOSTIC_KEYS = {
    "processing_ms_p50": float,
    "processing_ms_p95": float,
    "processing_ms_p99": float,
    "processing_ms_max": float,
    "inputs": int,
    "processed": int,
    "dropped": int,
    "bad_inputs": int,
    "out_of_order": int,
    "stale": int,
    "input_age_ms_p50": float,
    "input_age_ms_p99": float,
    "backend": str,
    "model": str,
}
STAGE_SUFFIXES = ("_ms_p50", "_ms_p99")
COUNTERS = ("inputs", "processed", "dropped", "bad_inputs", "out_of_order", "stale")  # cumulative in /diagnostics


def bag_to_play(bag: Path | None, folder: Path, scenario: str, duration_s: float) -> tuple[Path, str]:
    """``bag``, or a fresh recording of ``scenario`` into ``folder``; with a description for the report."""
    if bag is not None:
        return bag, str(bag)
    from kvision_driving.ros.sim_record import record
    from kvision_driving.sim.scenario import load_scenario

    recording = folder / f"{scenario}_bag"
    record(load_scenario(scenario), recording, duration_s=duration_s, progress=False)
    return recording, f"recorded: {scenario}, {duration_s:.0f} s"


def _node_figures(values: dict[str, str]) -> dict[str, Any]:
    figures: dict[str, Any] = dict(buffer_sizes(values))
    for key, kind in DIAGNOSTIC_KEYS.items():
        if key in values:
            try:
                figures[key] = kind(values[key])
            except ValueError:
                figures[key] = values[key]
    for key, value in values.items():  # the node's own stages (model, postprocess, paint, detect...)
        if key.endswith(STAGE_SUFFIXES) and key not in figures:
            try:
                figures[key] = float(value)
            except ValueError:
                continue
    return figures


def _first_arrivals(sensors: list[tuple[float, int]]) -> dict[int, float]:
    """The first arrival of each stamp among (arrival, stamp) pairs of several streams."""
    first_seen: dict[int, float] = {}
    for arrived, stamp in sensors:
        first_seen[stamp] = min(arrived, first_seen.get(stamp, arrived))
    return first_seen


def end_to_end_ms(
    sensors: list[tuple[float, int]], objects: list[tuple[float, int]], trajectories: list[tuple[float, float]]
) -> list[float]:
    """For each trajectory: its arrival minus the first arrival of the sensor data behind the newest objects
    that had arrived before it (what the planner planned with). All (arrival, stamp) pairs."""
    first_seen = _first_arrivals(sensors)
    objects = sorted(objects)
    arrivals = np.array([arrived for arrived, _ in objects])
    newest_stamp = np.maximum.accumulate([stamp for _, stamp in objects]) if objects else np.zeros(0, np.int64)
    latencies = []
    for arrived, _ in trajectories:
        newest = int(np.searchsorted(arrivals, arrived)) - 1
        if newest < 0:
            continue
        used = int(newest_stamp[newest])
        if used in first_seen:
            latencies.append((arrived - first_seen[used]) * 1e3)
    return latencies


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    return {
        "count": len(values),
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "max": float(np.max(values)),
    }


def stage_latencies_ms(
    sensors: list[tuple[float, int]],
    stages: dict[str, list[tuple[float, int]]],
    objects: list[tuple[float, int]],
    trajectories: list[tuple[float, float]],
) -> dict[str, dict[str, float | int | None]]:
    """Where the end-to-end time goes: each stage's output (by its stamp) after the first arrival of the sensor
    data stamped alike; for the trajectory, the first one after each predicted objects message."""
    first_seen = _first_arrivals(sensors)
    result = {
        name: _percentiles([(arrived - first_seen[stamp]) * 1e3 for arrived, stamp in arrivals if stamp in first_seen])
        for name, arrivals in stages.items()
    }
    planned = np.sort([arrived for arrived, _ in trajectories])
    after_objects = []
    for arrived, stamp in objects:
        following = int(np.searchsorted(planned, arrived))
        if following < len(planned) and stamp in first_seen:
            after_objects.append((planned[following] - first_seen[stamp]) * 1e3)
    result["trajectory"] = _percentiles(after_objects)
    return result


def start_stack(graph: RosGraph, probe: GraphProbe, backend: str, stale_after_s: float = 0.0) -> dict[str, int]:
    """Every node of the full stack as a process; returns their pids once they listen to the sensors."""
    pids: dict[str, int] = {}
    for name, command in stack_processes("full", backend, lockstep=False, stale_after_s=stale_after_s):
        pids[name] = graph.start(name, command).pid
    probe.wait_for_subscribers(CAMERA, 2, timeout_s=120)
    probe.wait_for_subscribers(LIDAR, 1, timeout_s=60)
    probe.wait_for_publishers(TRAJECTORY, 1, timeout_s=60)
    return pids


def player_command(bag: Path, loop: bool = False, start_offset_s: float = 0.0) -> list[str]:
    # A fresh player's writers must be discovered by every node before it plays: without the delay, the
    # player's graph knew two of the camera's three subscribers when it started, and segmentation lost the
    # measured replay's first second of frames (its first ten sweeps fused unpainted, planning safe-stopped).
    command = ["kvision", "replay", str(bag), "--topics", ",".join(SENSOR_TOPICS), "--wait-subscribers", "30"]
    command += ["--delay", "2"]
    if start_offset_s > 0:
        command += ["--start-offset", f"{start_offset_s:.3f}"]
    return [*command, "--loop"] if loop else command


def since_baseline(figures: dict[str, Any], baseline: dict[str, str]) -> dict[str, Any]:
    """``figures`` with the cumulative counters counted from ``baseline`` (the same node's earlier values)."""
    out = dict(figures)
    for key in COUNTERS:
        if key in out and isinstance(out[key], int) and key in baseline:
            out[key] -= int(baseline[key])
    return out


def check_alive(graph: RosGraph, names: list[str]) -> None:
    for name in names:
        if not graph.alive(name):
            raise RuntimeError(f"{name} died during the benchmark:\n{graph.log(name)[-2000:]}")


def latest_diagnostics(arrays: list) -> dict[str, dict[str, str]]:
    """The newest /diagnostics values of every node, by node name."""
    latest: dict[str, dict[str, str]] = {}
    for array in list(arrays):
        for status in array.status:
            latest[status.name.removeprefix("kvision: ")] = status_values(status)
    return latest


def run_backend(
    bag: Path,
    backend: str,
    logs: Path,
    warmup_s: float = 3.0,
    timeout_s: float = 900.0,
    stale_after_s: float = 0.0,
    cpus: float = 0.0,
) -> dict[str, Any]:
    """One replay of ``bag`` through the full stack with ``backend`` for the network nodes, after a warm-up
    replay of its last ``warmup_s`` seconds; ``stale_after_s`` > 0: the perception nodes drop inputs that old;
    ``cpus`` > 0: the nodes share that many CPUs (bench.cpu_limit), the player and the benchmark outside it."""
    freeze_startup_objects()  # the probe's arrival times must not wait for a collector pass either
    source = open_bag(bag)
    bag_s = (source.end_ns - source.start_ns) / 1e9
    limit = CpuLimit(cpus) if cpus > 0 else contextlib.nullcontext()
    with RosGraph(logs) as graph, GraphProbe(graph.domain_id, "pipeline_bench") as probe, limit as limited:
        sensor_qos = qos_by_name("sensor_data")
        camera = probe.arrivals(Image, CAMERA, sensor_qos)
        lidar = probe.arrivals(PointCloud2, LIDAR, sensor_qos)
        labels = probe.arrivals(Image, LABELS, sensor_qos)
        tracked = probe.arrivals(TrackedObjects, TRACKED, qos_by_name("reliable"))
        objects = probe.arrivals(PredictedObjects, PREDICTED, qos_by_name("reliable"))
        trajectories = probe.arrivals(PathMsg, TRAJECTORY, qos_by_name("reliable"))
        diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
        pids = start_stack(graph, probe, backend, stale_after_s)
        if limited is not None:
            for name, pid in pids.items():
                limited.add(name, pid)
        sampled = {**pids, "benchmark": os.getpid()}  # this process too: its subscribers cost CPU
        with ProcessSampler(sampled) as sampler:
            if warmup_s > 0:
                graph.start("warmup", player_command(bag, start_offset_s=max(bag_s - warmup_s, 0.0)))
                if graph.wait("warmup", timeout_s) != 0:
                    raise RuntimeError(f"warm-up replay failed:\n{graph.log('warmup')[-2000:]}")
                time.sleep(2.0)  # the last sweep through the stack, and one more /diagnostics period
            baseline = latest_diagnostics(diagnostics)
            for arrivals in (camera, lidar, labels, tracked, objects, trajectories):
                arrivals.clear()  # the measured replay only (its subscribers append; nothing arrives now)
            sampled["player"] = graph.start("player", player_command(bag)).pid
            probe.wait_for(lambda: bool(camera), 60, "the first camera frame")
            playing = time.monotonic()
            code = graph.wait("player", timeout_s)
            played = time.monotonic()
            time.sleep(2.0)  # the last sweep through the stack, and one more /diagnostics period
        if code != 0:
            raise RuntimeError(f"replay failed ({code}):\n{graph.log('player')[-2000:]}")
        check_alive(graph, list(pids))
        cpu_limit = None
        if limited is not None:  # what was applied, and that every node was still under it at the end
            cpu_limit = {**limited.summary(), "held_to_the_end": all(limited.holds(pid) for pid in pids.values())}
        latest = latest_diagnostics(diagnostics)
        latency = end_to_end_ms(camera + lidar, objects, trajectories)
        stages = stage_latencies_ms(
            camera + lidar, {"labels": labels, "tracked": tracked, "predicted": objects}, objects, trajectories
        )
        processes = sampler.summary(playing, played)  # CPU while the bag plays, not while waiting
        nodes = {}
        sent = {CAMERA: len(camera), LIDAR: len(lidar)}
        for node in NODES:
            counted = since_baseline(_node_figures(latest.get(node, {})), baseline.get(node, {}))
            figures = {**counted, **processes.get(node.removesuffix("_node"), {})}
            figures["input_hz"] = figures.get("inputs", 0) / bag_s  # over the whole replay, not the last 5 s
            if node in SENSOR_INPUTS:
                figures["lost_in_transport"] = max(sent[SENSOR_INPUTS[node]] - figures.get("inputs", 0), 0)
            nodes[node] = figures
        return {
            "backend": backend,
            "warmup_s": warmup_s,
            "stale_after_s": stale_after_s,
            "cpu_limit": cpu_limit,
            "camera_frames": len(camera),
            "lidar_sweeps": len(lidar),
            "trajectories": len(trajectories),
            "end_to_end_ms": _percentiles(latency),
            "stages_after_sensors_ms": stages,
            "nodes": nodes,
            "player": processes.get("player", {}),
            "benchmark": processes.get("benchmark", {}),
        }


def run(
    bag: Path | None,
    scenario: str = "dense_traffic",
    duration_s: float = 20.0,
    backends: tuple[str, ...] = ("onnxruntime", "torch"),
    logs: Path | None = None,
    warmup_s: float = 3.0,
    stale_after_s: float = 0.0,
    cpus: float = 0.0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kvision-pipeline-") as scratch:
        played, description = bag_to_play(bag, Path(scratch), scenario, duration_s)
        runs = [
            run_backend(
                played,
                backend,
                (logs or Path(scratch) / "logs") / backend,
                warmup_s,
                stale_after_s=stale_after_s,
                cpus=cpus,
            )
            for backend in backends
        ]
    return {
        "benchmark": "pipeline",
        "bag": description,
        "rates_hz": {"camera": 20, "lidar": 10},
        "runs": runs,
    }


def _number(value: object, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) and np.isfinite(value) else "-"


def _limit_note(cpu_limit: dict[str, Any] | None) -> str:
    return f" Nodes limited to {cpu_limit['cpus']} CPUs ({cpu_limit['applied']})." if cpu_limit else ""


def summary_table(result: dict[str, Any]) -> str:
    """A summary table per backend."""
    lines = []
    for run in result["runs"]:
        e2e = run["end_to_end_ms"]
        lines += [
            f"**{run['backend']}**: {run['trajectories']} trajectories from {run['lidar_sweeps']} sweeps and "
            f"{run['camera_frames']} camera frames; end-to-end sensor stamp -> trajectory "
            f"p50 {_number(e2e['p50'])} ms, p99 {_number(e2e['p99'])} ms, max {_number(e2e['max'])} ms."
            + _limit_note(run.get("cpu_limit")),
            "",
            "| node | p50 ms | p95 ms | p99 ms | max ms | input Hz | inputs | lost in transport | processed "
            "| dropped | stale | input age p99 ms | bad | CPU % | RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for node, figures in run["nodes"].items():
            lines.append(
                f"| {node} | {_number(figures.get('processing_ms_p50'))} | {_number(figures.get('processing_ms_p95'))} "
                f"| {_number(figures.get('processing_ms_p99'))} | {_number(figures.get('processing_ms_max'))} "
                f"| {_number(figures.get('input_hz'))} | {figures.get('inputs', '-')} "
                f"| {figures.get('lost_in_transport', '-')} | {figures.get('processed', '-')} "
                f"| {figures.get('dropped', '-')} | {figures.get('stale', '-')} "
                f"| {_number(figures.get('input_age_ms_p99'))} | {figures.get('bad_inputs', '-')} "
                f"| {_number(figures.get('cpu_percent_mean'), 0)} | {_number(figures.get('rss_mb_max'), 0)} |"
            )
        stages = run.get("stages_after_sensors_ms", {})
        if stages:
            lines += [
                "",
                "| after the sensor data (ms) | " + " | ".join(stages) + " |",
                "|---|" + "---|" * len(stages),
            ]
            for key in ("p50", "p99", "max"):
                lines.append(f"| {key} | " + " | ".join(_number(stage[key]) for stage in stages.values()) + " |")
        lines.append("")
    return "\n".join(lines)
