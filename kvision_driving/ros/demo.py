"""``kvision demo``: the whole stack on a private DDS domain, recorded, then turned into a report.

Live (default): the simulator in lockstep with segmentation, fusion, action and planning, every one a
process, and a recorder process writing an MCAP of sensors, ground truth and every output. With a
bag: the bag replayed (with /clock) into the perception nodes instead, recorded the same way. The
report (video, key frames, metrics) is built from the recording alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from kvision_driving.eval.report import TOPICS, ReportBuilder
from kvision_driving.ros.graph import RosGraph
from kvision_driving.ros.stack import node_command, stack_processes

START_DELAY_S = 6.0  # the simulator waits this long, so the recorder has subscribed before step 0


@dataclass
class DemoResult:
    bag: Path
    report: dict[str, Path]
    metrics: dict
    wall_s: float


def _clock_seconds(probe: object) -> list:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    return probe.subscribe(Clock, "/clock", QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))


def _follow(graph: RosGraph, probe: object, done: str, total_s: float, timeout_s: float) -> None:
    """A progress bar over simulated seconds until process ``done`` exits."""
    clock = _clock_seconds(probe)
    started = time.monotonic()
    with tqdm(
        total=round(total_s, 1), desc="demo", unit="sim s", bar_format="{l_bar}{bar}| {n:.1f}/{total} sim s"
    ) as bar:
        first = None
        while graph.alive(done):
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the run took longer than {timeout_s:.0f} s")
            if clock:
                stamp = clock[-1].clock.sec + clock[-1].clock.nanosec * 1e-9
                first = stamp if first is None else first
                bar.n = round(min(stamp - first, total_s), 1)
                bar.refresh()
            time.sleep(0.2)


def run_demo(
    out: Path,
    scenario: str = "cyclist_and_signals",
    duration_s: float = 8.0,
    bag: Path | None = None,
    backend: str = "onnxruntime",
    timeout_s: float = 900.0,
) -> DemoResult:
    from kvision_driving.ros.probe import GraphProbe

    out.mkdir(parents=True, exist_ok=True)
    recording = out / "run"
    if recording.exists():
        raise FileExistsError(f"{recording} exists: choose another --out")
    results_path = out / "closed_loop.json"
    started = time.monotonic()
    with RosGraph(out / "logs") as graph, GraphProbe(graph.domain_id, "kvision_demo") as probe:
        processes = stack_processes("full", backend, lockstep=bag is None)
        if bag is not None:
            processes = [(name, command) for name, command in processes if name != "planning"]
        for name, command in processes:
            graph.start(name, command)
        graph.start(
            "record",
            [
                "kvision",
                "record",
                *sorted(TOPICS),
                "--out",
                str(recording),
                "--discovery-timeout",
                "30",
                "--missing-ok",
            ],
        )
        if bag is None:
            graph.start(
                "sim",
                node_command(
                    "sim_node",
                    "sim",
                    f"scenario:={scenario}",
                    f"duration_s:={duration_s}",
                    f"results_path:={results_path}",
                    "clock_mode:=lockstep",
                    "drive:=planner",
                    "lockstep_timeout_s:=5.0",
                    "planner_timeout_s:=120.0",
                    f"start_delay_s:={START_DELAY_S}",
                ),
            )
            driver, total = "sim", duration_s
        else:
            from kvision_driving.data.bag_source import open_bag

            source = open_bag(bag)
            total = (source.end_ns - source.start_ns) / 1e9
            time.sleep(START_DELAY_S)  # nodes up and the recorder subscribed before the first message
            # The recorder subscribes once it sees the player's publishers: --delay gives it that time.
            graph.start("replay", ["kvision", "replay", str(bag), "--delay", "3", "--wait-subscribers", "30"])
            driver = "replay"
        _follow(graph, probe, driver, total, timeout_s)
        if graph.wait(driver, 10) != 0:
            raise RuntimeError(f"{driver} failed:\n{graph.log(driver)[-3000:]}")
        time.sleep(1.5)  # the last outputs reach the recorder
        graph.stop("record", timeout_s=20)
    builder = ReportBuilder(out)
    builder.read(recording)
    sim_results = json.loads(results_path.read_text()) if results_path.exists() else None
    metrics = builder.metrics(sim_results)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    report = builder.write(metrics)
    return DemoResult(recording, report, metrics, time.monotonic() - started)
