"""QoS profiles by name, so every topic's QoS can be chosen by a parameter."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

#: Names accepted by ``*_qos`` parameters.
QOS_CHOICES = ("sensor_data", "reliable", "latched")


def qos_by_name(name: str, depth: int | None = None) -> QoSProfile:
    """``sensor_data``: best effort, keep last 5; ``reliable``: keep last 10;
    ``latched``: reliable + transient local, keep last 1 (static data such as label maps)."""
    if name == "sensor_data":
        profile = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=qos_profile_sensor_data.depth,
            reliability=ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE,
        )
    elif name == "reliable":
        profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
    elif name == "latched":
        profile = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
    else:
        raise ValueError(f"unknown QoS {name!r}; choose one of {', '.join(QOS_CHOICES)}")
    if depth is not None:
        profile.depth = depth
    return profile


def tf_static_qos() -> QoSProfile:
    """The standard /tf_static QoS (tf2_ros StaticTransformBroadcaster): reliable, transient local."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=100,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
