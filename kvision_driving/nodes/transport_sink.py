"""Receives the transport benchmark's messages: latency from the header stamp, bit-exact check, conversion cost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rclpy.node import Node

from kvision_driving.ros.convert import image_to_numpy, pointcloud2_to_array, stamp_to_ns
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParamSpec
from kvision_driving.ros.payloads import PAYLOAD_KINDS, payload_array, payload_message, payload_type
from kvision_driving.ros.qos import QOS_CHOICES, qos_by_name

PARAMS = (
    ParamSpec("kind", "image", "Payload expected", choices=PAYLOAD_KINDS),
    ParamSpec("topic", "/kvision/transport", "Topic to receive"),
    ParamSpec("qos", "sensor_data", "QoS of the subscription", choices=QOS_CHOICES),
    ParamSpec("seed", 0, "Payload seed used by the source", 0, 2**31 - 1),
    ParamSpec("expected", 300, "Exit after this many messages", 1, 1_000_000),
    ParamSpec("idle_timeout_s", 3.0, "Exit when no message came for this long (after the first)", 0.1, 600.0),
    ParamSpec("result_path", "", "Write a JSON summary here when done (empty: do not write)"),
)


class TransportSink(KvisionNode):
    def __init__(self) -> None:
        super().__init__("transport_sink", PARAMS)
        kind = str(self.params["kind"])
        reference = payload_message(kind, payload_array(kind, int(self.params["seed"])))
        self.reference_bytes = np.frombuffer(bytes(reference.data), dtype=np.uint8)
        self.reference = reference
        self.latencies_ns: list[int] = []
        self.to_numpy_ms: list[float] = []
        self.mismatches = 0
        self.finished = False
        self._last_receive = 0.0
        self._first_wall = 0.0
        self._first_cpu = 0.0
        self.create_subscription(
            payload_type(kind), str(self.params["topic"]), self.on_message, qos_by_name(str(self.params["qos"]))
        )
        self.create_timer(0.1, self.check_idle)

    def on_message(self, message: object) -> None:
        received_ns = time.time_ns()
        if not self.latencies_ns:
            self._first_wall, self._first_cpu = time.monotonic(), time.process_time()
        self.latencies_ns.append(received_ns - stamp_to_ns(message.header.stamp))
        started = time.perf_counter()
        if str(self.params["kind"]) == "image":
            image_to_numpy(message)
        else:
            pointcloud2_to_array(message)
        self.to_numpy_ms.append((time.perf_counter() - started) * 1e3)
        if not self.matches(message):
            self.mismatches += 1
        self._last_receive = time.monotonic()
        if len(self.latencies_ns) >= int(self.params["expected"]):
            self.finish()

    def matches(self, message: object) -> bool:
        """Bit-exact: every byte of data and every layout field as sent."""
        data = np.frombuffer(message.data, dtype=np.uint8)
        if data.size != self.reference_bytes.size or not np.array_equal(data, self.reference_bytes):
            return False
        layout = (
            ("height", "width", "encoding", "step", "is_bigendian")
            if hasattr(message, "encoding")
            else ("height", "width", "point_step", "row_step", "is_bigendian", "is_dense", "fields")
        )
        return all(getattr(message, name) == getattr(self.reference, name) for name in layout)

    def check_idle(self) -> None:
        if self.latencies_ns and time.monotonic() - self._last_receive > float(self.params["idle_timeout_s"]):
            self.finish()

    def finish(self) -> None:
        if self.finished:
            return
        wall = self._last_receive - self._first_wall
        cpu = time.process_time() - self._first_cpu
        path = str(self.params["result_path"])
        if path:
            Path(path).write_text(
                json.dumps(
                    {
                        "received": len(self.latencies_ns),
                        "mismatches": self.mismatches,
                        "latencies_ns": self.latencies_ns,
                        "to_numpy_ms": self.to_numpy_ms,
                        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
                    }
                )
            )
        self.finished = True


def make_node() -> Node:
    return TransportSink()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
