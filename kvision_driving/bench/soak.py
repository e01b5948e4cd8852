"""``kvision bench soak --minutes N``: the whole stack for N minutes on a looping simulator bag.

Every node is a process; ``kvision replay --loop`` plays a recorded bag over and over (so time jumps
back at every loop, and every node starts over each time: the reset paths are soaked too). Every
process's resident memory is sampled throughout; after a warm-up, its growth (last minute against
the first minute after warm-up, medians) and its linear slope are reported, with the nodes' input,
processed, dropped and bad-input counters and the sizes of everything they buffer (``buffered_*``) over
time from /diagnostics. Every buffer is bounded by construction (keep-latest slots, fixed-length
deques); the sizes show it, and memory shows whatever else might leak.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray

from kvision_driving.bench.pipeline import (
    NODES,
    bag_to_play,
    check_alive,
    latest_diagnostics,
    player_command,
    start_stack,
)
from kvision_driving.bench.processes import ProcessSampler, ProcessSeries
from kvision_driving.ros.diagnostics import BUFFERED_PREFIX, buffer_sizes
from kvision_driving.ros.graph import RosGraph
from kvision_driving.ros.probe import GraphProbe
from kvision_driving.ros.qos import qos_by_name

COUNTERS = ("inputs", "processed", "dropped", "bad_inputs", "out_of_order")


def node_counters(values: dict[str, str]) -> dict[str, int]:
    """A node's counters and the sizes of what it buffers (``buffered_*`` in its /diagnostics)."""
    return {**{key: int(float(values.get(key, "0"))) for key in COUNTERS}, **buffer_sizes(values)}


def buffer_peaks(counters: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The largest size each node's buffers reached over the run."""
    peaks: dict[str, dict[str, int]] = {}
    for sample in counters:
        for node in NODES:
            for key, size in sample.get(node, {}).items():
                if key.startswith(BUFFERED_PREFIX):
                    node_peaks = peaks.setdefault(node, {})
                    name = key.removeprefix(BUFFERED_PREFIX)
                    node_peaks[name] = max(size, node_peaks.get(name, 0))
    return peaks


def memory_growth(series: ProcessSeries, warmup_s: float, window_s: float = 60.0) -> dict[str, float]:
    """RSS after warm-up: first and last ``window_s`` medians, growth between them, and the fitted slope."""
    times = np.asarray(series.times_s) - series.times_s[0]
    rss_mb = np.asarray(series.rss_bytes, dtype=np.float64) / 2**20
    settled = times >= warmup_s
    times, rss_mb = times[settled], rss_mb[settled]
    if len(times) < 4:
        raise ValueError("too few samples after warm-up: run longer")
    window = min(window_s, (times[-1] - times[0]) / 3)
    first = float(np.median(rss_mb[times <= times[0] + window]))
    last = float(np.median(rss_mb[times >= times[-1] - window]))
    slope = float(np.polyfit(times / 60.0, rss_mb, 1)[0])
    return {
        "rss_mb_after_warmup": first,
        "rss_mb_end": last,
        "growth_percent": 100.0 * (last - first) / first,
        "slope_mb_per_minute": slope,
        "samples": len(times),
    }


def run(
    minutes: float,
    bag: Path | None = None,
    scenario: str = "dense_traffic",
    duration_s: float = 20.0,
    backend: str = "onnxruntime",
    warmup_s: float = 60.0,
    period_s: float = 2.0,
    logs: Path | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kvision-soak-") as scratch:
        played, description = bag_to_play(bag, Path(scratch), scenario, duration_s)
        with RosGraph(logs or Path(scratch) / "logs") as graph, GraphProbe(graph.domain_id, "soak_bench") as probe:
            diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable", depth=100))
            pids = start_stack(graph, probe, backend)
            pids["player"] = graph.start("player", player_command(played, loop=True)).pid
            counters: list[dict[str, Any]] = []
            started = time.monotonic()
            with ProcessSampler({**pids, "benchmark": os.getpid()}, period_s) as sampler:
                while time.monotonic() - started < minutes * 60:
                    time.sleep(min(30.0, max(0.0, minutes * 60 - (time.monotonic() - started))))
                    check_alive(graph, list(pids))
                    latest = latest_diagnostics(diagnostics)
                    diagnostics.clear()  # only the newest matter; the list must not grow for an hour
                    counters.append(
                        {
                            "minute": round((time.monotonic() - started) / 60.0, 2),
                            **{node: node_counters(latest.get(node, {})) for node in NODES},
                        }
                    )
            graph.stop("player")
    return {
        "benchmark": "soak",
        "minutes": minutes,
        "bag": f"{description}, looped",
        "backend": backend,
        "warmup_s": warmup_s,
        "memory": {name: memory_growth(series, warmup_s) for name, series in sampler.series.items()},
        "cpu": {name: series.summary() for name, series in sampler.series.items()},
        "counters": counters,
        "buffer_peaks": buffer_peaks(counters),
    }


def summary_table(result: dict[str, Any]) -> str:
    lines = [
        f"Soak: {result['minutes']:.0f} min, {result['bag']}, {result['backend']}; "
        f"RSS after {result['warmup_s']:.0f} s of warm-up.",
        "",
        "| process | RSS after warm-up (MB) | RSS at end (MB) | growth | slope (MB/min) | CPU mean % |",
        "|---|---|---|---|---|---|",
    ]
    for name, memory in result["memory"].items():
        lines.append(
            f"| {name} | {memory['rss_mb_after_warmup']:.0f} | {memory['rss_mb_end']:.0f} | "
            f"{memory['growth_percent']:+.1f} % | {memory['slope_mb_per_minute']:+.2f} | "
            f"{result['cpu'][name]['cpu_percent_mean']:.0f} |"
        )
    lines += ["", "| node | largest buffers over the run |", "|---|---|"]
    for node, peaks in result.get("buffer_peaks", {}).items():
        lines.append(f"| {node} | {', '.join(f'{name} {size}' for name, size in sorted(peaks.items()))} |")
    return "\n".join(lines) + "\n"
