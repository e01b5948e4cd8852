"""A procedural driving world ray-cast with open3d: camera and lidar with exact labels, ground truth."""
