"""ROS message <-> numpy conversion: the only such code in the project.

Reading needs no ROS and lives in ``data.messages`` (evaluation reads bags with it); it is re-exported
here, so a node imports its conversions from one place. Writing builds rclpy's message classes and always
assigns ``bytes`` to ``msg.data``: assigning a numpy array makes rclpy copy element by element, three
orders of magnitude slower (ENVIRONMENT.md). Malformed input raises :class:`ConversionError`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, Transform, TransformStamped
from nav_msgs.msg import Odometry
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import Matrix4, matrix_to_quaternion
from kvision_driving.data.messages import (
    IMAGE_ENCODINGS,
    MAX_IMAGE_SIDE,
    MAX_MESSAGE_BYTES,
    POINT_FIELD_DTYPES,
    ConversionError,
    OdometryState,
    camera_info_to_pinhole,
    image_to_numpy,
    odometry_to_state,
    pointcloud2_dtype,
    pointcloud2_field,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    pose_to_matrix,
    stamp_to_ns,
    transform_stamped_to_matrix,
    transform_to_matrix,
)

__all__ = [
    "IMAGE_ENCODINGS",
    "MAX_IMAGE_SIDE",
    "MAX_MESSAGE_BYTES",
    "POINT_FIELD_DTYPES",
    "ConversionError",
    "OdometryState",
    "array_to_pointcloud2",
    "camera_info_to_pinhole",
    "decode_raw",
    "image_to_numpy",
    "make_header",
    "matrix_to_pose",
    "matrix_to_transform",
    "matrix_to_transform_stamped",
    "msgtype_name",
    "ns_to_stamp",
    "numpy_to_image",
    "odometry_to_state",
    "pinhole_to_camera_info",
    "pointcloud2_dtype",
    "pointcloud2_field",
    "pointcloud2_to_array",
    "pointcloud2_to_xyz",
    "pose_to_matrix",
    "ros_header",
    "stamp_to_ns",
    "state_to_odometry",
    "transform_stamped_to_matrix",
    "transform_to_matrix",
    "xyz_to_pointcloud2",
]


def msgtype_name(msg_type: type) -> str:
    """``pkg/msg/Name`` of an rclpy message class, as bags and rosbags name it."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def decode_raw(data: bytes, msg_type: type) -> Any:
    """A message a subscription received raw (CDR bytes), decoded by rosbags' deserialiser for its type: the
    same fields as rclpy's message, and faster for a message of many small parts such as PredictedObjects'
    paths (docs/benchmarks.md). ConversionError for bytes that are not such a message."""
    from rosbags.serde import SerdeError

    from kvision_driving.data.bags import typestore

    name = msgtype_name(msg_type)
    try:
        return typestore().deserialize_cdr(data, name)
    except (SerdeError, struct.error, IndexError, ValueError, TypeError, OverflowError, MemoryError) as error:
        raise ConversionError(f"not a {name}: {type(error).__name__}: {error}") from error


_DTYPE_TO_POINT_FIELD = {dtype.str.lstrip("<>|="): code for code, dtype in POINT_FIELD_DTYPES.items()}


# --- time -----------------------------------------------------------------------------------------


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds as a builtin_interfaces/Time."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


def ros_header(header: object) -> Header:
    """An rclpy Header from any header-like object (e.g. one decoded by rosbags)."""
    if isinstance(header, Header):
        return header
    stamp = header.stamp  # type: ignore[attr-defined]
    return Header(stamp=Time(sec=int(stamp.sec), nanosec=int(stamp.nanosec)), frame_id=str(header.frame_id))  # type: ignore[attr-defined]


# --- images ---------------------------------------------------------------------------------------


def numpy_to_image(array: NDArray, encoding: str, header: object | None = None) -> Image:
    """An Image from an (H, W) or (H, W, C) array whose dtype and channels match ``encoding``."""
    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(f"unsupported image encoding {encoding!r}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1 and channels == 1:
        array = array[:, :, 0]
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ConversionError(f"array of shape {array.shape} does not hold {encoding} ({channels} channels)")
    if array.dtype.newbyteorder("=") != dtype.newbyteorder("="):
        raise ConversionError(f"array dtype {array.dtype} does not match {encoding} ({dtype})")
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ConversionError("cannot publish an empty image")
    msg = Image()
    if header is not None:
        msg.header = ros_header(header)
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = int(array.dtype.byteorder == ">" and dtype.itemsize > 1)
    msg.step = width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(array).tobytes()  # bytes: the fast assignment path
    return msg


# --- camera info ----------------------------------------------------------------------------------


def pinhole_to_camera_info(camera: PinholeCamera, header: object | None = None) -> CameraInfo:
    msg = CameraInfo()
    if header is not None:
        msg.header = ros_header(header)
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = camera.distortion_model
    msg.d = [float(v) for v in camera.d]
    msg.k = camera.k.ravel().tolist()
    msg.r = camera.r.ravel().tolist()
    msg.p = camera.p.ravel().tolist()
    return msg


# --- point clouds ---------------------------------------------------------------------------------


def array_to_pointcloud2(points: NDArray[np.void], header: object | None = None) -> PointCloud2:
    """A PointCloud2 (height 1) from a structured array; fields, offsets and padding follow its dtype."""
    points = np.ascontiguousarray(points).reshape(-1)
    if points.dtype.names is None:
        raise ConversionError("array_to_pointcloud2 needs a structured array")
    msg = PointCloud2()
    if header is not None:
        msg.header = ros_header(header)
    fields = []
    byte_orders = set()
    for name in points.dtype.names:
        field_dtype, offset = points.dtype.fields[name][:2]
        base, shape = (field_dtype.base, field_dtype.shape) if field_dtype.subdtype else (field_dtype, ())
        code = _DTYPE_TO_POINT_FIELD.get(base.str.lstrip("<>|="))
        if code is None:
            raise ConversionError(f"field {name!r} has dtype {base} that PointField cannot describe")
        if base.itemsize > 1:
            byte_orders.add(base.str[0] if base.str[0] in "<>" else "<")
        fields.append(
            PointField(name=name, offset=int(offset), datatype=code, count=int(np.prod(shape)) if shape else 1)
        )
    if len(byte_orders) > 1:
        raise ConversionError("fields mix byte orders")
    msg.fields = fields
    msg.is_bigendian = byte_orders == {">"}
    msg.height, msg.width = 1, int(points.shape[0])
    msg.point_step = int(points.dtype.itemsize)
    msg.row_step = msg.point_step * msg.width
    xyz = [name for name in ("x", "y", "z") if name in points.dtype.names]
    msg.is_dense = bool(len(xyz) < 3 or all(np.isfinite(points[name]).all() for name in xyz))
    msg.data = points.tobytes()
    return msg


def xyz_to_pointcloud2(
    xyz: NDArray[np.floating],
    header: object | None = None,
    extra_fields: dict[str, NDArray] | None = None,
) -> PointCloud2:
    """A packed float32 x, y, z cloud with optional extra per-point scalar fields (e.g. intensity)."""
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ConversionError(f"xyz must have shape (N, 3), got {xyz.shape}")
    extra_fields = extra_fields or {}
    descr = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    for name, values in extra_fields.items():
        values = np.asarray(values)
        if values.shape != (xyz.shape[0],):
            raise ConversionError(f"field {name!r} has shape {values.shape}, expected ({xyz.shape[0]},)")
        descr.append((name, values.dtype.newbyteorder("<").str if values.dtype.itemsize > 1 else values.dtype.str))
    points = np.empty(xyz.shape[0], dtype=np.dtype(descr))
    points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    for name, values in extra_fields.items():
        points[name] = values
    return array_to_pointcloud2(points, header)


# --- poses and transforms -------------------------------------------------------------------------


def matrix_to_pose(transform: Matrix4) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in transform[:3, 3])
    q = matrix_to_quaternion(transform[:3, :3])
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q
    return pose


def matrix_to_transform(transform: Matrix4) -> Transform:
    msg = Transform()
    msg.translation.x, msg.translation.y, msg.translation.z = (float(v) for v in transform[:3, 3])
    q = matrix_to_quaternion(transform[:3, :3])
    msg.rotation.x, msg.rotation.y, msg.rotation.z, msg.rotation.w = q
    return msg


def matrix_to_transform_stamped(transform: Matrix4, parent: str, child: str, stamp_ns: int = 0) -> TransformStamped:
    msg = TransformStamped()
    msg.header = make_header(stamp_ns, parent)
    msg.child_frame_id = child
    msg.transform = matrix_to_transform(transform)
    return msg


def state_to_odometry(state: OdometryState) -> Odometry:
    msg = Odometry()
    msg.header = make_header(state.stamp_ns, state.frame_id)
    msg.child_frame_id = state.child_frame_id
    msg.pose.pose = matrix_to_pose(state.pose)
    msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z = (
        float(v) for v in state.linear_velocity
    )
    msg.twist.twist.angular.x, msg.twist.twist.angular.y, msg.twist.twist.angular.z = (
        float(v) for v in state.angular_velocity
    )
    return msg
