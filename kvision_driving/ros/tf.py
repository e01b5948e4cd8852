"""Sensor extrinsics from /tf_static, as 4x4 matrices (tf2_ros is not on pip machines)."""

from __future__ import annotations

from collections.abc import Callable

from rclpy.node import Node

from kvision_driving.core.frames import FrameNotFoundError, StaticFrameTree
from kvision_driving.core.geometry import Matrix4
from kvision_driving.ros.convert import ConversionError, transform_stamped_to_matrix
from kvision_driving.ros.qos import tf_static_qos

try:  # from the ROS distribution, or built from interfaces/ by the pip setup
    from tf2_msgs.msg import TFMessage
except ImportError as error:  # pragma: no cover - only on a broken install
    raise ImportError("tf2_msgs is missing: run scripts/setup.sh (pip) or install ros-<distro>-tf2-msgs") from error

__all__ = ["FrameNotFoundError", "StaticTransformListener"]


class StaticTransformListener:
    """Subscribes /tf_static (transient local, so late joiners get every transform) into a frame tree."""

    def __init__(
        self, node: Node, topic: str = "/tf_static", on_reject: Callable[[str, Exception], None] | None = None
    ) -> None:
        """``on_reject(source, error)`` hears of each refused transform (a node counts it in /diagnostics)."""
        self._node = node
        self._on_reject = on_reject
        self.tree = StaticFrameTree()
        self.rejected = 0
        self._subscription = node.create_subscription(TFMessage, topic, self._on_message, tf_static_qos())

    def _on_message(self, message: TFMessage) -> None:
        for transform in message.transforms:
            try:
                parent, child, matrix = transform_stamped_to_matrix(transform)
            except ConversionError as error:
                self.rejected += 1
                if self._on_reject is not None:
                    self._on_reject("tf_static", error)
                else:
                    self._node.get_logger().error(f"ignoring /tf_static entry: {error}", throttle_duration_sec=5.0)
                continue
            self.tree.add(parent, child, matrix)

    def lookup(self, target: str, source: str) -> Matrix4:
        """Transform taking points in ``source`` to ``target``; raises FrameNotFoundError if unknown."""
        return self.tree.lookup(target, source)
