"""``kvision bench transport``: large messages between two processes over the default DDS profile.

For a 1280x720 rgb8 Image and a 120k-point PointCloud2, each with best-effort and reliable QoS:
latency (header stamp to receive callback) p50/p99, loss, bit-exactness and CPU of both
processes, plus the in-process conversion cost of every converter on the hot path. Each pair
runs several times, interleaved; latencies are pooled over the runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

import numpy as np

from kvision_driving.core.stats import latency_summary_ms
from kvision_driving.ros.convert import image_to_numpy, pointcloud2_to_array, pointcloud2_to_xyz
from kvision_driving.ros.graph import RosGraph
from kvision_driving.ros.payloads import PAYLOAD_KINDS, payload_array, payload_message

QOS_UNDER_TEST = ("sensor_data", "reliable")


def measure_pair(kind: str, qos: str, rate_hz: float, count: int, seed: int = 0, timeout_s: float = 120.0) -> dict:
    """One source and one sink process on a private domain; returns both processes' raw figures."""
    with tempfile.TemporaryDirectory(prefix="kvision-transport-") as folder, RosGraph() as graph:
        sink_json, source_json = Path(folder) / "sink.json", Path(folder) / "source.json"
        common = ["-p", f"kind:={kind}", "-p", f"qos:={qos}", "-p", f"seed:={seed}"]
        graph.start(
            "sink",
            ["transport_sink", "--ros-args", *common, "-p", f"expected:={count}", "-p", f"result_path:={sink_json}"],
        )
        graph.start(
            "source",
            [
                "transport_source",
                "--ros-args",
                *common,
                "-p",
                f"count:={count}",
                "-p",
                f"rate_hz:={rate_hz}",
                "-p",
                f"result_path:={source_json}",
            ],
        )
        for name in ("source", "sink"):
            code = graph.wait(name, timeout_s)
            if code != 0:
                raise RuntimeError(f"{name} exited with {code}:\n{graph.log(name)[-3000:]}")
        return {"sink": json.loads(sink_json.read_text()), "source": json.loads(source_json.read_text())}


def summarise(kind: str, qos: str, rate_hz: float, runs: list[dict]) -> dict[str, Any]:
    """Figures of one payload and QoS over repeated runs: counts summed, latencies pooled, and each
    run's median listed so the spread between runs on a shared machine is visible."""
    sent = sum(run["source"]["sent"] for run in runs)
    received = sum(run["sink"]["received"] for run in runs)
    to_msg = [value for run in runs for value in run["source"]["to_msg_ms"]]
    to_numpy = [value for run in runs for value in run["sink"]["to_numpy_ms"]]
    return {
        "kind": kind,
        "qos": qos,
        "rate_hz": rate_hz,
        "repeats": len(runs),
        "sent": sent,
        "received": received,
        "loss": (sent - received) / sent if sent else float("nan"),
        "publish_errors": sum(run["source"]["publish_errors"] for run in runs),
        "bit_exact": received > 0 and all(run["sink"]["mismatches"] == 0 for run in runs),
        "latency": latency_summary_ms([value for run in runs for value in run["sink"]["latencies_ns"]]),
        "run_p50_ms": [latency_summary_ms(run["sink"]["latencies_ns"])["p50_ms"] for run in runs],
        "cpu_percent": {
            "source": float(np.mean([run["source"]["cpu_percent"] for run in runs])),
            "sink": float(np.mean([run["sink"]["cpu_percent"] for run in runs])),
        },
        "to_msg_ms_p50": float(np.median(to_msg)) if to_msg else float("nan"),
        "to_numpy_ms_p50": float(np.median(to_numpy)) if to_numpy else float("nan"),
    }


def run_pair(
    kind: str, qos: str, rate_hz: float, count: int, seed: int = 0, timeout_s: float = 120.0
) -> dict[str, Any]:
    """One run of one payload and QoS, summarised."""
    return summarise(kind, qos, rate_hz, [measure_pair(kind, qos, rate_hz, count, seed, timeout_s)])


def conversion_costs(repeat: int = 50) -> dict[str, float]:
    """Milliseconds per call of each converter on the benchmark payloads (best of several runs)."""

    def best_ms(function: Any, number: int) -> float:
        return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e3

    image_array = payload_array("image", 0)
    image_msg = payload_message("image", image_array)
    cloud_array = payload_array("cloud", 0)
    cloud_msg = payload_message("cloud", cloud_array)
    return {
        "image_to_numpy_ms": best_ms(lambda: image_to_numpy(image_msg), repeat * 20),
        "numpy_to_image_ms": best_ms(lambda: payload_message("image", image_array), repeat),
        "pointcloud2_to_array_ms": best_ms(lambda: pointcloud2_to_array(cloud_msg), repeat * 20),
        "pointcloud2_to_xyz_ms": best_ms(lambda: pointcloud2_to_xyz(cloud_msg), repeat),
        "array_to_pointcloud2_ms": best_ms(lambda: payload_message("cloud", cloud_array), repeat),
    }


def run(
    rate_hz: float = 30.0,
    count: int = 300,
    kinds: tuple[str, ...] = PAYLOAD_KINDS,
    qos_list: tuple[str, ...] = QOS_UNDER_TEST,
    repeats: int = 3,
    progress: bool = True,
) -> dict[str, Any]:
    """Every payload and QoS ``repeats`` times, interleaved, so a noisy minute on a shared machine
    lands on all of them rather than on one."""
    pairs = [(kind, qos) for kind in kinds for qos in qos_list]
    raw: dict[tuple[str, str], list[dict]] = {pair: [] for pair in pairs}
    for repeat in range(repeats):
        for kind, qos in pairs:
            if progress:
                print(
                    f"transport: {kind} {qos} {count} msgs at {rate_hz} Hz (run {repeat + 1}/{repeats}) ...",
                    file=sys.stderr,
                    flush=True,
                )
            raw[(kind, qos)].append(measure_pair(kind, qos, rate_hz, count, seed=repeat))
    runs = [summarise(kind, qos, rate_hz, raw[(kind, qos)]) for kind, qos in pairs]
    return {"benchmark": "transport", "runs": runs, "conversion": conversion_costs()}


def summary_table(result: dict[str, Any]) -> str:
    lines = [
        "| payload | QoS | sent | loss | bit-exact | p50 ms | p99 ms | p50 of each run | CPU src/sink % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for item in result["runs"]:
        latency = item["latency"]
        lines.append(
            f"| {item['kind']} | {item['qos']} | {item['sent']} | {item['loss']:.1%} | {item['bit_exact']} | "
            f"{latency['p50_ms']:.2f} | {latency['p99_ms']:.2f} | "
            f"{' / '.join(f'{value:.2f}' for value in item['run_p50_ms'])} | "
            f"{item['cpu_percent']['source']:.0f}/{item['cpu_percent']['sink']:.0f} |"
        )
    lines.append("")
    lines.append("| conversion | ms per message |")
    lines.append("|---|---|")
    lines.extend(f"| {name.removesuffix('_ms')} | {value:.4f} |" for name, value in result["conversion"].items())
    return "\n".join(lines)
