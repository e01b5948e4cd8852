"""ROS-free perception algorithms: segmentation, projection and painting, clustering, tracking, actions."""
