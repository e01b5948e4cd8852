"""One small file per node: wire topics to a ROS-free object, nothing else."""
