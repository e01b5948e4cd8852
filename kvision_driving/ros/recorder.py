"""``kvision record``: subscribe to topics and write what arrives, serialized as received, to MCAP.

Types come from the graph (the publishers'); a topic nobody publishes within the discovery timeout
is an error naming it. The subscription's QoS matches every publisher: best effort if one of them
is, transient local only if all of them are (so late-joining latched data is recorded too).
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
    def __init__(
        self, out: Path, topics: list[str], discovery_timeout_s: float = 5.0, missing_ok: bool = False
    ) -> None:
        super().__init__("kvision_record")
        self.kinds: dict[str, str] = {}
        types = self._discover(topics, discovery_timeout_s, missing_ok)
        self.missing = [topic for topic in topics if topic not in types]
        for topic in self.missing:
            self.get_logger().warning(f"no publisher of {topic}: not recorded")
        self.bag = BagWriter(out, "mcap")
        for topic in types:
            publishers = self.get_publishers_info_by_topic(topic)
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
                _message_class(types[topic]),
                topic,
                lambda data, t=topic, m=types[topic]: self._write(t, m, data),
                qos,
                raw=True,
            )

    def _discover(self, topics: list[str], timeout_s: float, missing_ok: bool) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while True:
            known = {name: kinds[0] for name, kinds in self.get_topic_names_and_types() if kinds}
            missing = [topic for topic in topics if topic not in known]
            if not missing:
                return {topic: known[topic] for topic in topics}
            if time.monotonic() > deadline:
                if missing_ok and len(missing) < len(topics):
                    return {topic: known[topic] for topic in topics if topic in known}
                raise RecordError(f"no publisher of {', '.join(missing)} within {timeout_s:g} s")
            time.sleep(0.1)

    def _write(self, topic: str, msgtype: str, data: bytes) -> None:
        self.bag.write_serialized(topic, msgtype, data, self.get_clock().now().nanoseconds, self.kinds[topic])

    def close(self) -> dict[str, int]:
        counts = dict(self.bag.counts)
        self.bag.close()
        return counts


def _message_class(msgtype: str) -> type:
    from kvision_driving.ros.replay import message_class

    return message_class(msgtype)
