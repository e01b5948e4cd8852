"""Evaluation against the simulator's ground truth: ROS-free, reading bags with rosbags."""
