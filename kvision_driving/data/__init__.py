"""Datasets and recordings: Cityscapes-layout folders, KITTI, rosbag2 helpers that need no ROS."""
