"""An rclpy node inside the calling process (a test, a benchmark), on a given domain, with its own Context.

It spins in a background thread, collects messages by topic and waits on graph conditions
(publisher/subscriber counts) instead of sleeping."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


class GraphProbe:
    def __init__(self, domain_id: int, name: str = "test_probe") -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._lock = threading.Lock()
        self.received: dict[str, list[Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def __enter__(self) -> GraphProbe:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def subscribe(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list[Any]:
        """Collect every message on ``topic``; returns the (live) list."""
        self.received[topic] = []

        def collect(message: Any) -> None:
            with self._lock:
                self.received[topic].append(message)

        self.node.create_subscription(msg_type, topic, collect, qos)
        return self.received[topic]

    def arrivals(self, msg_type: type, topic: str, qos: QoSProfile | int = 10) -> list[tuple[float, int]]:
        """(monotonic arrival time, header stamp in ns) of every message on ``topic``, which must start with a
        std_msgs/Header. Subscribed raw: the message is never deserialised, so large ones cost next to nothing."""
        arrived: list[tuple[float, int]] = []

        def note(data: bytes) -> None:
            # CDR: a 4-byte encapsulation header, then header.stamp as int32 sec, uint32 nanosec.
            sec, nanosec = struct.unpack_from("<iI" if data[1] == 1 else ">iI", data, 4)
            arrived.append((time.monotonic(), sec * 1_000_000_000 + nanosec))

        self.node.create_subscription(msg_type, topic, note, qos, raw=True)
        return arrived

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")

    def wait_for_publishers(self, topic: str, count: int = 1, timeout_s: float = 20.0) -> None:
        self.wait_for(lambda: self.node.count_publishers(topic) >= count, timeout_s, f"{count} publisher(s) on {topic}")

    def wait_for_subscribers(self, topic: str, count: int = 1, timeout_s: float = 20.0) -> None:
        self.wait_for(
            lambda: self.node.count_subscribers(topic) >= count, timeout_s, f"{count} subscriber(s) on {topic}"
        )

    def set_parameters(self, node_name: str, timeout_s: float = 10.0, **values: object) -> None:
        """Set parameters of a running node through its parameter service (as ``ros2 param set`` does)."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TimeoutError(f"/{node_name}/set_parameters is not available")
            request = SetParameters.Request(
                parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
            )
            future = client.call_async(request)
            self.wait_for(future.done, timeout_s, f"{node_name} to answer set_parameters")
            refused = [result.reason for result in future.result().results if not result.successful]
            if refused:
                raise ValueError(f"{node_name} refused parameters: {'; '.join(refused)}")
        finally:
            self.node.destroy_client(client)
