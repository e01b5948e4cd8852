"""Deterministic large messages for transport tests and benchmarks (a camera frame, a lidar sweep)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sensor_msgs.msg import Image, PointCloud2

from kvision_driving.ros.convert import numpy_to_image, xyz_to_pointcloud2

PAYLOAD_KINDS = ("image", "cloud")
IMAGE_SHAPE = (720, 1280, 3)
CLOUD_POINTS = 120_000


def payload_array(kind: str, seed: int) -> NDArray:
    """The numpy side of a payload: random, so no layer can cheat by compressing it."""
    rng = np.random.default_rng(seed)
    if kind == "image":
        return rng.integers(0, 256, size=IMAGE_SHAPE, dtype=np.uint8)
    if kind == "cloud":
        points = np.empty(CLOUD_POINTS, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4")])
        for name in points.dtype.names:
            points[name] = rng.normal(0.0, 20.0, CLOUD_POINTS).astype(np.float32)
        return points
    raise ValueError(f"unknown payload kind {kind!r}; choose one of {', '.join(PAYLOAD_KINDS)}")


def payload_message(kind: str, array: NDArray) -> Image | PointCloud2:
    if kind == "image":
        return numpy_to_image(array, "rgb8")
    xyz = np.stack([array["x"], array["y"], array["z"]], axis=1)
    return xyz_to_pointcloud2(xyz, extra_fields={"intensity": array["intensity"]})


def payload_type(kind: str) -> type:
    return Image if kind == "image" else PointCloud2
