"""ROS-free planning: occupancy from painted points, behaviour decisions, Frenet trajectory sampling, watchdog."""
