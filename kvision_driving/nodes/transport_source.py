"""Publishes a large deterministic message at a fixed rate: one end of the transport benchmark."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rclpy.duration import Duration
from rclpy.exceptions import InvalidHandle
from rclpy.node import Node

from kvision_driving.ros.convert import ns_to_stamp
from kvision_driving.ros.node import KvisionNode, run_node
from kvision_driving.ros.params import ParamSpec
from kvision_driving.ros.payloads import PAYLOAD_KINDS, payload_array, payload_message, payload_type
from kvision_driving.ros.qos import QOS_CHOICES, qos_by_name

PARAMS = (
    ParamSpec("kind", "image", "Payload: a 1280x720 rgb8 Image or a 120k-point PointCloud2", choices=PAYLOAD_KINDS),
    ParamSpec("topic", "/kvision/transport", "Topic to publish on"),
    ParamSpec("qos", "sensor_data", "QoS of the stream", choices=QOS_CHOICES),
    ParamSpec("rate_hz", 30.0, "Publishing rate", 0.1, 1000.0),
    ParamSpec("count", 300, "Messages to publish, then exit", 1, 1_000_000),
    ParamSpec("seed", 0, "Payload seed (the sink checks the bytes against the same seed)", 0, 2**31 - 1),
    ParamSpec("subscribers", 1, "Wait for this many subscribers before publishing", 0, 100),
    ParamSpec("settle_s", 0.5, "Extra wait after discovery so both sides have matched", 0.0, 30.0),
    ParamSpec("result_path", "", "Write a JSON summary here when done (empty: do not write)"),
)


class TransportSource(KvisionNode):
    def __init__(self) -> None:
        super().__init__("transport_source", PARAMS)
        kind = str(self.params["kind"])
        self.array = payload_array(kind, int(self.params["seed"]))
        self.message = payload_message(kind, self.array)
        self.publisher = self.create_publisher(
            payload_type(kind), str(self.params["topic"]), qos_by_name(str(self.params["qos"]))
        )
        self.sent = 0
        self.publish_errors = 0
        self.conversion_ms: list[float] = []
        self.finished = False
        self._ready_at: float | None = None
        self._started_wall = 0.0
        self._started_cpu = 0.0
        self.timer = self.create_timer(1.0 / float(self.params["rate_hz"]), self.tick)

    def tick(self) -> None:
        if self.finished:
            return
        now = time.monotonic()
        if self._ready_at is None:
            if self.publisher.get_subscription_count() < int(self.params["subscribers"]):
                return
            self._ready_at = now + float(self.params["settle_s"])
        if now < self._ready_at:
            return
        if self.sent == 0:
            self._started_wall, self._started_cpu = time.monotonic(), time.process_time()
        # Convert every time, as a driver would: that cost is part of what is measured.
        started = time.perf_counter()
        self.message = payload_message(str(self.params["kind"]), self.array)
        self.conversion_ms.append((time.perf_counter() - started) * 1e3)
        self.message.header.frame_id = "transport"
        self.message.header.stamp = ns_to_stamp(time.time_ns())
        try:
            self.publisher.publish(self.message)
        except (RuntimeError, InvalidHandle):  # rclpy raises RCLError (a RuntimeError) when a reliable queue is full
            self.publish_errors += 1
        self.sent += 1
        if self.sent >= int(self.params["count"]):
            self.finish()

    def finish(self) -> None:
        wall = time.monotonic() - self._started_wall
        cpu = time.process_time() - self._started_cpu
        # Exiting at once would destroy the writer before the last samples are delivered.
        if str(self.params["qos"]) != "sensor_data":
            self.publisher.wait_for_all_acked(Duration(seconds=5))
        time.sleep(0.5)
        path = str(self.params["result_path"])
        if path:
            Path(path).write_text(
                json.dumps(
                    {
                        "sent": self.sent,
                        "publish_errors": self.publish_errors,
                        "wall_s": wall,
                        "cpu_percent": 100.0 * cpu / wall if wall > 0 else 0.0,
                        "to_msg_ms": self.conversion_ms,
                    }
                )
            )
        self.finished = True


def make_node() -> Node:
    return TransportSource()


def main(args: list[str] | None = None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
