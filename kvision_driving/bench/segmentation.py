"""``kvision bench segmentation``: the segmentation node as a process, fed 640x384 frames faster than it can go.

For each variant (ONNX Runtime, torch backend, the naive baseline node) in one run: sustained output
fps, per-frame processing time in the node, model time, post-processing time (labels and confidence at
the image's size from the model's outputs: part of inference, which the exported graph used to do), and
the node's overhead (processing minus both) as a share of the inference time. Numbers come from the
node's own /diagnostics and from the labels received.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from kvision_driving.ros.convert import make_header, numpy_to_image
from kvision_driving.ros.diagnostics import status_values
from kvision_driving.ros.graph import RosGraph
from kvision_driving.ros.probe import GraphProbe
from kvision_driving.ros.qos import qos_by_name
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import Simulator

VARIANTS = {
    "onnxruntime": ["segmentation_node", "--ros-args", "-p", "backend:=onnxruntime", "-p", "publish_overlay:=false"],
    "onnxruntime-float": ["segmentation_node", "--ros-args", "-p", "backend:=onnxruntime", "-p", "cpu_model:=float"],
    "torch": ["segmentation_node", "--ros-args", "-p", "backend:=torch", "-p", "publish_overlay:=false"],
    "naive": ["segmentation_baseline_node", "--ros-args"],
}


def camera_frames(count: int = 20) -> list:
    """Held-out simulator frames (a seed never used in training), as rgb8 arrays."""
    simulator = Simulator(load_scenario("dense_traffic").with_seed(4242), lidar=None)
    frames = []
    while len(frames) < count and not simulator.done:
        frames.append(simulator.render().cameras["front"].rgb)
        for _ in range(5):
            simulator.advance(*simulator.autopilot_command())
    return frames


def measure(
    variant: str, frames: list, rate_hz: float, warmup_s: float, duration_s: float, threads: int
) -> dict[str, Any]:
    command = [*VARIANTS[variant], "-p", "diagnostics_period_s:=0.5"]
    if variant != "naive":  # every offered frame is segmented: the bench measures the node's own rate
        command += ["-p", f"threads:={threads}", "-p", "max_rate_hz:=0.0"]
    with RosGraph() as graph, GraphProbe(graph.domain_id, "bench_segmentation") as probe:
        labels = probe.subscribe(Image, "/perception/segmentation/labels", qos_by_name("sensor_data"))
        diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", qos_by_name("reliable"))
        publisher = probe.node.create_publisher(Image, "/sensing/camera/front/image_raw", qos_by_name("sensor_data"))
        graph.start(variant, command)
        probe.wait_for_subscribers("/sensing/camera/front/image_raw", timeout_s=120)
        probe.wait_for_publishers("/perception/segmentation/labels", timeout_s=60)
        started = time.monotonic()
        counted_from, baseline, counting, sent = started + warmup_s, 0, False, 0
        while time.monotonic() < counted_from + duration_s:
            if not counting and time.monotonic() >= counted_from:
                baseline, counting = len(labels), True  # outputs before this are warm-up
            header = make_header(time.time_ns(), "camera_front_optical")
            publisher.publish(numpy_to_image(frames[sent % len(frames)], "rgb8", header))
            sent += 1
            time.sleep(max(0.0, started + sent / rate_hz - time.monotonic()))
        received = len(labels) - baseline
        time.sleep(1.0)
        node_name = "segmentation_baseline_node" if variant == "naive" else "segmentation_node"
        status = next(
            (
                status_values(s)
                for array in reversed(diagnostics)
                for s in array.status
                if s.name == f"kvision: {node_name}"
            ),
            {},
        )
    processing = float(status.get("processing_ms_p50", "nan"))
    model = float(status.get("model_ms_p50", "nan"))
    postprocess = float(status.get("postprocess_ms_p50", 0.0))  # the naive node has none of its own
    inference = model + postprocess
    return {
        "variant": variant,
        "backend": status.get("backend", ""),
        "model": status.get("model", ""),
        "sustained_fps": received / duration_s,
        "input_rate_hz": rate_hz,
        "processing_ms_p50": processing,
        "processing_ms_p99": float(status.get("processing_ms_p99", "nan")),
        "model_ms_p50": model,
        "postprocess_ms_p50": postprocess,
        "overhead_ms_p50": processing - inference,
        "overhead_share_of_inference": (processing - inference) / inference if inference else float("nan"),
        "dropped": int(status.get("dropped", 0)),
    }


def run(
    variants: tuple[str, ...] = tuple(VARIANTS),
    rate_hz: float = 30.0,
    warmup_s: float = 4.0,
    duration_s: float = 12.0,
    threads: int = 2,
) -> dict[str, Any]:
    frames = camera_frames()
    results = []
    for variant in variants:
        print(f"segmentation: {variant} ...", file=sys.stderr, flush=True)
        results.append(measure(variant, frames, rate_hz, warmup_s, duration_s, threads))
    return {"benchmark": "segmentation", "image": "640x384 rgb8", "runs": results}


def summary_table(result: dict[str, Any]) -> str:
    lines = [
        "| node | backend | sustained fps | processing p50 ms | model p50 ms | post-processing p50 ms | overhead ms "
        "| overhead / inference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["runs"]:
        cells = [
            row["variant"],
            row["backend"],
            f"{row['sustained_fps']:.1f}",
            f"{row['processing_ms_p50']:.1f}",
            f"{row['model_ms_p50']:.1f}",
            f"{row['postprocess_ms_p50']:.1f}",
            f"{row['overhead_ms_p50']:.1f}",
            f"{row['overhead_share_of_inference']:.0%}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
