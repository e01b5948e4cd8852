"""kvision_driving: a ROS 2 perception-to-planning stack for autonomous driving, in Python."""

__version__ = "0.1.0"
