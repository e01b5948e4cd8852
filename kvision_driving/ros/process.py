"""What every kvision process that joins a DDS graph does first, before ``rclpy.init()``.

This module imports no rclpy: it only edits the environment and the allocator.
"""

from __future__ import annotations

from kvision_driving.core.allocator import keep_large_buffers
from kvision_driving.ros.dds import apply_default_dds_profile


def prepare_ros_process() -> None:
    """The loopback large-data DDS profile (unless the user configured DDS) and an allocator that
    keeps large message buffers (unless the user tuned malloc)."""
    apply_default_dds_profile()
    keep_large_buffers()
