"""ROS messages read into numpy, without ROS: for any message object with the standard fields.

The same functions read what a node receives (rclpy's messages) and what a bag holds (rosbags'
messages, decoded by ``data.bags``), so evaluation and the nodes see the same arrays. Writing messages
needs rclpy's classes and lives in ``ros.convert``, which re-exports everything here.

Reading is zero-copy where the layout allows (a received ``msg.data`` is an ``array.array`` that numpy can
view). Every malformed message raises :class:`ConversionError` with the reason, so a node can skip the
frame, count it and say why in ``/diagnostics``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import Matrix4, finite_rows, make_transform, quaternion_to_matrix

if TYPE_CHECKING:  # the standard messages these read (any object with their fields will do)
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Pose, Transform, TransformStamped
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2


class ConversionError(ValueError):
    """A message that cannot be converted; ``str()`` says why."""


#: Anything larger is treated as corrupt rather than allocated.
MAX_IMAGE_SIDE = 16384
MAX_MESSAGE_BYTES = 1 << 30

# encoding -> (numpy dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}

# PointField datatype constant -> numpy dtype (native order; byte order is set per message)
POINT_FIELD_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.int8),  # sensor_msgs/PointField INT8
    2: np.dtype(np.uint8),
    3: np.dtype(np.int16),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int32),
    6: np.dtype(np.uint32),
    7: np.dtype(np.float32),
    8: np.dtype(np.float64),  # FLOAT64
}


# --- time -----------------------------------------------------------------------------------------


def stamp_to_ns(stamp: Time) -> int:
    """A builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# --- images ---------------------------------------------------------------------------------------


def byte_view(data: object) -> NDArray[np.uint8]:
    """Zero-copy uint8 view of a message's ``data`` (array.array, bytes or list)."""
    if isinstance(data, list):  # only in hand-built messages; received ones are array.array
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def image_to_numpy(msg: Image) -> NDArray:
    """View an Image as (H, W) or (H, W, C), without copying.

    Row padding (``step`` larger than a packed row) is handled with strides. Big-endian
    multi-byte images come back with a big-endian dtype: values are right, call ``astype``
    for native order if a library needs it. The view is read-only: copy before writing.
    """
    encoding = msg.encoding
    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r} (supported: {', '.join(IMAGE_ENCODINGS)})")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ConversionError(f"image has zero size ({width}x{height})")
    if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE:
        raise ConversionError(f"image size {width}x{height} exceeds {MAX_IMAGE_SIDE} per side")
    packed_row = width * channels * dtype.itemsize
    if step < packed_row:
        raise ConversionError(f"step {step} is smaller than a row of {width} {encoding} pixels ({packed_row} bytes)")
    if step % dtype.itemsize:
        raise ConversionError(f"step {step} is not a multiple of the {encoding} sample size {dtype.itemsize}")
    buffer = byte_view(msg.data)
    if buffer.size != step * height:
        raise ConversionError(f"image data has {buffer.size} bytes, expected step*height = {step * height}")
    if msg.is_bigendian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    else:
        dtype = dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype
    shape: tuple[int, ...] = (height, width, channels) if channels > 1 else (height, width)
    strides: tuple[int, ...] = (
        (step, channels * dtype.itemsize, dtype.itemsize) if channels > 1 else (step, dtype.itemsize)
    )
    view = np.ndarray(shape=shape, dtype=dtype, buffer=buffer, strides=strides)
    view.flags.writeable = False
    return view


# --- camera info ----------------------------------------------------------------------------------


def camera_info_to_pinhole(msg: CameraInfo) -> PinholeCamera:
    """A PinholeCamera from CameraInfo; an all-zero P (uncalibrated rectification) falls back to K."""
    k = np.asarray(msg.k, dtype=np.float64)
    if k.shape != (9,) or not np.any(k):
        raise ConversionError("camera info has no intrinsic matrix K (all zero)")
    p = np.asarray(msg.p, dtype=np.float64)
    r = np.asarray(msg.r, dtype=np.float64)
    try:
        return PinholeCamera(
            width=int(msg.width),
            height=int(msg.height),
            k=k,
            d=np.asarray(msg.d, dtype=np.float64),
            distortion_model=msg.distortion_model,
            r=r.reshape(3, 3) if np.any(r) else np.eye(3),
            p=p.reshape(3, 4) if np.any(p) else None,
        )
    except ValueError as error:
        raise ConversionError(f"invalid camera info: {error}") from error


# --- point clouds ---------------------------------------------------------------------------------


def pointcloud2_dtype(msg: PointCloud2) -> np.dtype:
    """The numpy structured dtype described by a cloud's fields, point_step and byte order."""
    if msg.point_step <= 0:
        raise ConversionError("point cloud has point_step 0")
    order = ">" if msg.is_bigendian else "<"
    names: list[str] = []
    formats: list[object] = []
    offsets: list[int] = []
    for field in msg.fields:
        if field.datatype not in POINT_FIELD_DTYPES:
            raise ConversionError(f"point field {field.name!r} has unknown datatype {field.datatype}")
        if not field.name:
            raise ConversionError("point field with an empty name")
        if field.name in names:
            raise ConversionError(f"duplicate point field {field.name!r}")
        base = POINT_FIELD_DTYPES[field.datatype].newbyteorder(order)
        count = max(int(field.count), 1)
        if field.offset + base.itemsize * count > msg.point_step:
            raise ConversionError(
                f"point field {field.name!r} (offset {field.offset}, {count}x{base.itemsize} bytes) "
                f"runs past point_step {msg.point_step}"
            )
        names.append(field.name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(int(field.offset))
    if not names:
        raise ConversionError("point cloud has no fields")
    spans = sorted(zip(offsets, formats, names, strict=True), key=lambda span: span[0])
    for (offset, fmt, name), (next_offset, _, next_name) in itertools.pairwise(spans):
        if offset + np.dtype(fmt).itemsize > next_offset:  # numpy would allow it; no real driver writes it
            raise ConversionError(f"point fields {name!r} and {next_name!r} overlap")
    try:
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)})
    except ValueError as error:  # overlapping fields
        raise ConversionError(f"inconsistent point field layout: {error}") from error


def pointcloud2_to_array(msg: PointCloud2) -> NDArray[np.void]:
    """The cloud as a 1-D structured array of ``width * height`` points (a view unless rows are padded)."""
    dtype = pointcloud2_dtype(msg)
    height, width = int(msg.height), int(msg.width)
    count = height * width
    row_bytes = width * dtype.itemsize
    if msg.row_step < row_bytes:
        raise ConversionError(f"row_step {msg.row_step} is smaller than width*point_step = {row_bytes}")
    if msg.row_step * height > MAX_MESSAGE_BYTES:
        raise ConversionError(f"point cloud of {msg.row_step * height} bytes is implausibly large")
    buffer = byte_view(msg.data)
    if buffer.size != msg.row_step * height:
        raise ConversionError(
            f"point cloud data has {buffer.size} bytes, expected row_step*height = {msg.row_step * height}"
        )
    if count == 0:
        return np.zeros(0, dtype=dtype)
    if msg.row_step == row_bytes:
        points = buffer.view(dtype)
    else:  # padded rows: drop the padding (one copy)
        points = buffer.reshape(height, msg.row_step)[:, :row_bytes].copy().view(dtype).reshape(-1)
    points.flags.writeable = False
    return points


def pointcloud2_to_xyz(
    msg: PointCloud2, fields: tuple[str, ...] = ("x", "y", "z"), drop_invalid: bool = True
) -> tuple[NDArray[np.float32], NDArray[np.intp] | None]:
    """(N, 3) float32 coordinates, native order.

    With ``drop_invalid`` the points with NaN or inf coordinates are removed (also when the
    cloud claims ``is_dense``: a wrong flag must not leak NaN downstream); the second value is
    then the indices of the kept points, else ``None``.
    """
    points = pointcloud2_to_array(msg)
    missing = [name for name in fields if name not in (points.dtype.names or ())]
    if missing:
        raise ConversionError(f"point cloud lacks field(s) {', '.join(missing)}")
    for name in fields:
        _require_scalar(points.dtype, name)
    xyz = np.empty((points.shape[0], len(fields)), dtype=np.float32)
    for column, name in enumerate(fields):
        xyz[:, column] = points[name]
    if not drop_invalid:
        return xyz, None
    finite = finite_rows(xyz)
    if finite.all():
        return xyz, None
    kept = np.flatnonzero(finite)
    return xyz[kept], kept


def pointcloud2_field(msg: PointCloud2, name: str, dtype: np.dtype | type = np.float32) -> NDArray:
    """One scalar field of every point, converted to ``dtype`` (native order)."""
    points = pointcloud2_to_array(msg)
    if name not in (points.dtype.names or ()):
        raise ConversionError(f"point cloud lacks field {name!r}")
    _require_scalar(points.dtype, name)
    return points[name].astype(dtype)


def _require_scalar(dtype: np.dtype, name: str) -> None:
    count = dtype.fields[name][0].shape  # type: ignore[index]
    if count:
        raise ConversionError(f"point field {name!r} has count {count[0]}: one value per point is needed")


# --- poses and transforms -------------------------------------------------------------------------


def _rigid(translation: object, rotation: object, what: str) -> Matrix4:
    """4x4 from any message with x/y/z and a quaternion x/y/z/w; refuses non-finite or non-unit values."""
    values = (translation.x, translation.y, translation.z)  # type: ignore[attr-defined]
    if not np.all(np.isfinite(values)):
        raise ConversionError(f"{what} {values} is not finite")
    q = rotation
    try:
        matrix = quaternion_to_matrix(q.x, q.y, q.z, q.w)  # type: ignore[attr-defined]
    except ValueError as error:
        raise ConversionError(str(error)) from error
    return make_transform(matrix, values)


def pose_to_matrix(pose: Pose) -> Matrix4:
    return _rigid(pose.position, pose.orientation, "pose position")


def transform_to_matrix(transform: Transform) -> Matrix4:
    return _rigid(transform.translation, transform.rotation, "translation")


def transform_stamped_to_matrix(msg: TransformStamped) -> tuple[str, str, Matrix4]:
    """(parent frame, child frame, 4x4 child-to-parent transform)."""
    if not msg.header.frame_id or not msg.child_frame_id:
        raise ConversionError("transform without a parent or child frame id")
    if msg.header.frame_id == msg.child_frame_id:
        raise ConversionError(f"transform from {msg.child_frame_id!r} to itself")
    return msg.header.frame_id, msg.child_frame_id, transform_to_matrix(msg.transform)


@dataclass(frozen=True)
class OdometryState:
    """Ego state from nav_msgs/Odometry: pose in ``frame_id``, twist in ``child_frame_id``."""

    stamp_ns: int
    frame_id: str
    child_frame_id: str
    pose: Matrix4
    linear_velocity: NDArray[np.float64]
    angular_velocity: NDArray[np.float64]


def odometry_to_state(msg: Odometry) -> OdometryState:
    pose = pose_to_matrix(msg.pose.pose)
    linear = np.array([msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z])
    angular = np.array([msg.twist.twist.angular.x, msg.twist.twist.angular.y, msg.twist.twist.angular.z])
    if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
        raise ConversionError("odometry twist is not finite")
    return OdometryState(stamp_to_ns(msg.header.stamp), msg.header.frame_id, msg.child_frame_id, pose, linear, angular)
