"""rosbag2 recording (MCAP or sqlite3) without ros2 bag: rosbags writes, rclpy serializes.

Messages are serialized by rclpy (the exact CDR a ROS 2 node would send) and written with
rosbags' Writer. Connections carry the message definition and RIHS01 hash, taken from a rosbags
type store extended with the interface packages the Kilted store lacks (vision_msgs,
autoware_perception_msgs), parsed from their installed .msg files.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rclpy.serialization import serialize_message
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from kvision_driving.data.bags import typestore
from kvision_driving.ros.convert import msgtype_name

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
QOS_KINDS = ("sensor_data", "reliable", "latched")


def type_name(message: object) -> str:
    """``pkg/msg/Name`` of an rclpy message instance."""
    return msgtype_name(type(message))


def bag_qos(kind: str) -> Qos:
    """The QoS a player should offer for a topic, stored in the bag's metadata."""
    zero = QosTime(0, 0)
    reliability = QosReliability.BEST_EFFORT if kind == "sensor_data" else QosReliability.RELIABLE
    durability = QosDurability.TRANSIENT_LOCAL if kind == "latched" else QosDurability.VOLATILE
    depth = 1 if kind == "latched" else (5 if kind == "sensor_data" else 10)
    return Qos(QosHistory.KEEP_LAST, depth, reliability, durability, zero, zero, QosLiveliness.AUTOMATIC, zero, False)


class BagWriter:
    """Write rclpy messages to a new rosbag2 folder. Use as a context manager."""

    def __init__(self, path: Path | str, storage: str = "mcap") -> None:
        if storage not in STORAGES:
            raise ValueError(f"unknown storage {storage!r}; choose mcap or sqlite3")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists: rosbag2 writes a new folder")
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def write(self, topic: str, message: object, stamp_ns: int, qos: str = "reliable") -> None:
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(
                topic, type_name(message), typestore=typestore(), offered_qos_profiles=[bag_qos(qos)]
            )
            self._connections[topic] = connection
            self.counts[topic] = 0
        self._writer.write(connection, stamp_ns, serialize_message(message))
        self.counts[topic] += 1

    def write_serialized(self, topic: str, msgtype: str, data: bytes, stamp_ns: int, qos: str = "reliable") -> None:
        """Write already-serialized CDR bytes (what a raw subscription receives)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(
                topic, msgtype, typestore=typestore(), offered_qos_profiles=[bag_qos(qos)]
            )
            self._connections[topic] = connection
            self.counts[topic] = 0
        self._writer.write(connection, stamp_ns, data)
        self.counts[topic] += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
