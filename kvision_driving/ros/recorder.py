"""``kvision record``: subscribe to topics and write what arrives, serialized as received, to MCAP.

Types come from the graph (the publishers'); a topic nobody publishes within the discovery timeout
is an error naming it (or, with ``missing_ok``, a warning while it keeps waiting for it). The
subscription's QoS matches every publisher: best effort if one of them is, transient local only if
all of them are (so late-joining latched data is recorded too).
"""

from __future__ import annotations

import time
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from kvision_driving.ros.bag import BagWriter


class RecordError(RuntimeError):
    """Topics that cannot be recorded, with the reason."""


class Recorder(Node):
    """Subscribes to each topic as soon as a publisher of it appears (as ``ros2 bag record`` does), so topics
    that start later are recorded from their first message on."""

    def __init__(
        self, out: Path, topics: list[str], discovery_timeout_s: float = 5.0, missing_ok: bool = False
    ) -> None:
        super().__init__("kvision_record")
        self.kinds: dict[str, str] = {}
        self.pending = list(dict.fromkeys(topics))
        self.missing_ok = missing_ok
        self.discovery_deadline = time.monotonic() + discovery_timeout_s
        self.bag = BagWriter(out, "mcap")
        self.discover()
        self.create_timer(0.1, self.discover)

    def discover(self) -> None:
        """Subscribe to the pending topics that now have a publisher; complain about the others once."""
        if not self.pending:
            return
        known = {name: kinds[0] for name, kinds in self.get_topic_names_and_types() if kinds}
        for topic in [topic for topic in self.pending if topic in known]:
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue  # only subscribers so far: their QoS says nothing about what will be offered
            self._subscribe(topic, known[topic], publishers)
            self.pending.remove(topic)
        if self.pending and time.monotonic() > self.discovery_deadline:
            if not self.missing_ok:
                raise RecordError(f"no publisher of {', '.join(self.pending)} within the discovery timeout")
            self.get_logger().warning(f"no publisher yet of {', '.join(self.pending)}: still waiting", once=True)

    def _subscribe(self, topic: str, msgtype: str, publishers: list) -> None:
        best_effort = any(p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in publishers)
        latched = bool(publishers) and all(
            p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers
        )
        self.kinds[topic] = "sensor_data" if best_effort else ("latched" if latched else "reliable")
        qos = QoSProfile(
            depth=100,
            reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )
        self.create_subscription(
            _message_class(msgtype), topic, lambda data, t=topic, m=msgtype: self._write(t, m, data), qos, raw=True
        )

    def _write(self, topic: str, msgtype: str, data: bytes) -> None:
        self.bag.write_serialized(topic, msgtype, data, self.get_clock().now().nanoseconds, self.kinds[topic])

    def close(self) -> dict[str, int]:
        counts = dict(self.bag.counts)
        self.bag.close()
        return counts


def _message_class(msgtype: str) -> type:
    from kvision_driving.ros.replay import message_class

    return message_class(msgtype)


def run_record(out: Path, topics: list[str], duration_s: float, discovery_timeout_s: float, missing_ok: bool) -> dict:
    """Record until ``duration_s`` (0: until Ctrl-C or SIGINT); the message counts per topic."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init()
    recorder = None
    try:
        recorder = Recorder(out, topics, discovery_timeout_s, missing_ok)
        executor = SingleThreadedExecutor()
        executor.add_node(recorder)
        deadline = time.monotonic() + duration_s if duration_s > 0 else float("inf")
        while rclpy.ok() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        counts = recorder.close() if recorder is not None else {}
        rclpy.try_shutdown()
    return counts
