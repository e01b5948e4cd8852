"""``kvision bench transport``: large messages between two processes over the default DDS profile.

For a 1280x720 rgb8 Image and a 120k-point PointCloud2, each with best-effort and reliable QoS:
latency (header stamp to receive callback) p50/p99, loss, bit-exactness and CPU of both
processes, plus the in-process conversion cost of every converter on the hot path.
"""

from __future__ import annotations

import json
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

import numpy as np

from kvision_driving.bench.payloads import PAYLOAD_KINDS, payload_array, payload_message
from kvision_driving.core.stats import latency_summary_ms
from kvision_driving.ros.convert import image_to_numpy, pointcloud2_to_array, pointcloud2_to_xyz
from kvision_driving.ros.graph import RosGraph

QOS_UNDER_TEST = ("sensor_data", "reliable")


def run_pair(
    kind: str, qos: str, rate_hz: float, count: int, seed: int = 0, timeout_s: float = 120.0
) -> dict[str, Any]:
    """One source and one sink process on a private domain; returns the sink's and source's figures."""
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
        sink = json.loads(sink_json.read_text())
        source = json.loads(source_json.read_text())
    received, sent = sink["received"], source["sent"]
    return {
        "kind": kind,
        "qos": qos,
        "rate_hz": rate_hz,
        "sent": sent,
        "received": received,
        "loss": (sent - received) / sent if sent else float("nan"),
        "publish_errors": source["publish_errors"],
        "bit_exact": sink["mismatches"] == 0 and received > 0,
        "latency": latency_summary_ms(sink["latencies_ns"]),
        "cpu_percent": {"source": source["cpu_percent"], "sink": sink["cpu_percent"]},
        "to_msg_ms_p50": float(np.median(source["to_msg_ms"])) if source["to_msg_ms"] else float("nan"),
        "to_numpy_ms_p50": float(np.median(sink["to_numpy_ms"])) if sink["to_numpy_ms"] else float("nan"),
    }


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
    progress: bool = True,
) -> dict[str, Any]:
    runs = []
    for kind in kinds:
        for qos in qos_list:
            if progress:
                print(f"transport: {kind} {qos} {count} msgs at {rate_hz} Hz ...", file=sys.stderr, flush=True)
            runs.append(run_pair(kind, qos, rate_hz, count))
    return {"benchmark": "transport", "runs": runs, "conversion": conversion_costs()}


def summary_table(result: dict[str, Any]) -> str:
    lines = [
        "| payload | QoS | sent | loss | bit-exact | p50 ms | p99 ms | CPU src/sink % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in result["runs"]:
        latency = item["latency"]
        lines.append(
            f"| {item['kind']} | {item['qos']} | {item['sent']} | {item['loss']:.1%} | {item['bit_exact']} | "
            f"{latency['p50_ms']:.2f} | {latency['p99_ms']:.2f} | "
            f"{item['cpu_percent']['source']:.0f}/{item['cpu_percent']['sink']:.0f} |"
        )
    lines.append("")
    lines.append("| conversion | ms per message |")
    lines.append("|---|---|")
    lines.extend(f"| {name.removesuffix('_ms')} | {value:.4f} |" for name, value in result["conversion"].items())
    return "\n".join(lines)
