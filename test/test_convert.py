"""ros/convert.py: every converter branch, round trips, layouts and bad inputs."""

from __future__ import annotations

import array

import numpy as np
import pytest
from geometry_msgs.msg import TransformStamped
from hypothesis import given, settings
from hypothesis import strategies as st
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import make_transform, quaternion_to_matrix
from kvision_driving.ros.convert import (
    IMAGE_ENCODINGS,
    ConversionError,
    OdometryState,
    array_to_pointcloud2,
    camera_info_to_pinhole,
    image_to_numpy,
    make_header,
    matrix_to_transform_stamped,
    ns_to_stamp,
    numpy_to_image,
    odometry_to_state,
    pinhole_to_camera_info,
    pointcloud2_field,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    stamp_to_ns,
    state_to_odometry,
    transform_stamped_to_matrix,
    xyz_to_pointcloud2,
)

RNG = np.random.default_rng(7)


def random_image(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    dtype, channels = IMAGE_ENCODINGS[encoding]
    shape = (height, width, channels) if channels > 1 else (height, width)
    if dtype.kind == "f":
        return RNG.normal(size=shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype)


def received(msg: Image | PointCloud2) -> Image | PointCloud2:
    """Make ``data`` an array.array as rclpy delivers it (a hand-built message holds bytes)."""
    msg.data = array.array("B", bytes(msg.data))
    return msg


# --- time -----------------------------------------------------------------------------------------


def test_stamp_round_trip() -> None:
    ns = 1_700_000_123_456_789_012
    assert stamp_to_ns(ns_to_stamp(ns)) == ns
    assert ns_to_stamp(1_500_000_000).sec == 1 and ns_to_stamp(1_500_000_000).nanosec == 500_000_000


# --- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1"])
def test_image_round_trip_every_encoding(encoding: str) -> None:
    original = random_image(encoding)
    msg = received(numpy_to_image(original, encoding, make_header(5, "camera")))
    assert msg.encoding == encoding and msg.header.frame_id == "camera"
    view = image_to_numpy(msg)
    np.testing.assert_array_equal(view, original)
    assert view.dtype.newbyteorder("=") == original.dtype.newbyteorder("=")


def test_image_view_is_zero_copy_and_read_only() -> None:
    msg = received(numpy_to_image(random_image("rgb8", 20, 30), "rgb8"))
    view = image_to_numpy(msg)
    assert np.shares_memory(view, np.frombuffer(msg.data, dtype=np.uint8))
    with pytest.raises(ValueError):
        view[0, 0, 0] = 1


def test_image_row_padding_is_skipped_by_strides() -> None:
    original = random_image("rgb8", 4, 5)
    step = 5 * 3 + 9  # 9 padding bytes a row
    padded = np.zeros((4, step), dtype=np.uint8)
    padded[:, : 5 * 3] = original.reshape(4, -1)
    msg = Image(height=4, width=5, encoding="rgb8", step=step, data=padded.tobytes())
    np.testing.assert_array_equal(image_to_numpy(received(msg)), original)


def test_big_endian_mono16_reads_correct_values() -> None:
    values = np.array([[1, 258], [65535, 4096]], dtype=">u2")
    msg = Image(height=2, width=2, encoding="mono16", step=4, is_bigendian=1, data=values.tobytes())
    result = image_to_numpy(received(msg))
    np.testing.assert_array_equal(result.astype(np.uint16), [[1, 258], [65535, 4096]])
    back = numpy_to_image(result, "mono16")
    assert back.is_bigendian == 1 and bytes(back.data) == values.tobytes()


def test_single_channel_with_trailing_axis_is_accepted() -> None:
    original = random_image("mono8")
    np.testing.assert_array_equal(image_to_numpy(numpy_to_image(original[:, :, None], "mono8")), original)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"encoding": "yuv422"}, "unsupported image encoding"),
        ({"encoding": ""}, "unsupported image encoding"),
        ({"height": 0}, "zero size"),
        ({"width": 0}, "zero size"),
        ({"width": 100_000, "step": 300_000}, "exceeds"),
        ({"step": 10}, "smaller than a row"),
        ({"step": 22}, "does not match|expected step"),
        ({"data": b"\x00" * 10}, "expected step"),
    ],
)
def test_bad_images_raise_conversion_error(fields: dict, reason: str) -> None:
    msg = Image(height=2, width=4, encoding="rgb8", step=12, data=b"\x00" * 24)
    for name, value in fields.items():
        setattr(msg, name, value)
    with pytest.raises(ConversionError, match=reason):
        image_to_numpy(msg)


def test_misaligned_step_for_16_bit_image() -> None:
    msg = Image(height=2, width=2, encoding="16UC1", step=5, data=b"\x00" * 10)
    with pytest.raises(ConversionError, match="multiple"):
        image_to_numpy(msg)


@pytest.mark.parametrize(
    ("array_", "encoding", "reason"),
    [
        (np.zeros((4, 4), np.uint8), "rgb8", "does not hold"),
        (np.zeros((4, 4, 3), np.float32), "rgb8", "dtype"),
        (np.zeros((4, 4, 4), np.uint8), "rgb8", "does not hold"),
        (np.zeros((0, 4, 3), np.uint8), "rgb8", "empty"),
        (np.zeros((4, 4), np.uint8), "nv12", "unsupported"),
    ],
)
def test_bad_arrays_are_refused(array_: np.ndarray, encoding: str, reason: str) -> None:
    with pytest.raises(ConversionError, match=reason):
        numpy_to_image(array_, encoding)


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(-2, 40),
    width=st.integers(-2, 40),
    step=st.integers(-5, 200),
    encoding=st.sampled_from([*IMAGE_ENCODINGS, "bayer_rggb8", "foo"]),
    size=st.integers(0, 2000),
    bigendian=st.booleans(),
)
def test_image_fuzz_never_crashes_and_never_lies(height, width, step, encoding, size, bigendian) -> None:
    msg = Image()
    msg.height, msg.width, msg.step = max(height, 0), max(width, 0), max(step, 0)
    msg.encoding, msg.is_bigendian = encoding, int(bigendian)
    msg.data = bytes(size)
    try:
        view = image_to_numpy(msg)
    except ConversionError:
        return
    _dtype, channels = IMAGE_ENCODINGS[encoding]
    assert view.shape[:2] == (msg.height, msg.width)
    assert (view.shape[2] if view.ndim == 3 else 1) == channels
    assert size == msg.step * msg.height


# --- camera info ----------------------------------------------------------------------------------


def test_camera_info_round_trip() -> None:
    camera = PinholeCamera.from_fov(640, 384, np.deg2rad(90))
    msg = pinhole_to_camera_info(camera, make_header(1, "camera_front_optical"))
    back = camera_info_to_pinhole(msg)
    assert back.width == 640 and back.height == 384
    np.testing.assert_allclose(back.k, camera.k)
    np.testing.assert_allclose(back.p, camera.p)
    assert back.fx == pytest.approx(320.0)


def test_camera_info_without_p_falls_back_to_k() -> None:
    msg = CameraInfo(width=100, height=50, k=[50.0, 0, 50, 0, 50, 25, 0, 0, 1])
    camera = camera_info_to_pinhole(msg)
    np.testing.assert_allclose(camera.p[:, :3], camera.k)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"k": [0.0] * 9}, "no intrinsic"),
        ({"width": 0}, "not positive"),
        ({"k": [float("nan"), 0, 50, 0, 50, 25, 0, 0, 1]}, "NaN"),
        ({"k": [-5.0, 0, 50, 0, 50, 25, 0, 0, 1]}, "positive"),
        ({"distortion_model": "fisheye_magic"}, "distortion model"),
    ],
)
def test_bad_camera_info(fields: dict, reason: str) -> None:
    msg = CameraInfo(width=100, height=50, k=[50.0, 0, 50, 0, 50, 25, 0, 0, 1], distortion_model="plumb_bob")
    for name, value in fields.items():
        setattr(msg, name, value)
    with pytest.raises(ConversionError, match=reason):
        camera_info_to_pinhole(msg)


# --- point clouds ---------------------------------------------------------------------------------


def test_xyz_cloud_round_trip_with_intensity() -> None:
    xyz = RNG.normal(size=(1000, 3)).astype(np.float32)
    intensity = RNG.random(1000).astype(np.float32)
    msg = received(xyz_to_pointcloud2(xyz, make_header(3, "lidar_top"), {"intensity": intensity}))
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32),
        ("y", 4, PointField.FLOAT32),
        ("z", 8, PointField.FLOAT32),
        ("intensity", 12, PointField.FLOAT32),
    ]
    assert msg.point_step == 16 and msg.is_dense
    out, kept = pointcloud2_to_xyz(msg)
    np.testing.assert_array_equal(out, xyz)
    assert kept is None
    np.testing.assert_array_equal(pointcloud2_field(msg, "intensity"), intensity)
    assert np.shares_memory(pointcloud2_to_array(msg), np.frombuffer(msg.data, dtype=np.uint8))


def test_any_layout_with_padding_mixed_types_and_counts() -> None:
    """A driver-like layout: x y z, padding, intensity, ring (uint16), timestamps (float64), a 3-vector."""
    dtype = np.dtype(
        {
            "names": ["x", "y", "z", "intensity", "ring", "t", "normal"],
            "formats": ["<f4", "<f4", "<f4", "<f4", "<u2", "<f8", ("<f4", (3,))],
            "offsets": [0, 4, 8, 16, 20, 24, 32],
            "itemsize": 48,
        }
    )
    points = np.zeros(50, dtype=dtype)
    for name in ("x", "y", "z", "intensity"):
        points[name] = RNG.normal(size=50)
    points["ring"] = np.arange(50) % 64
    points["t"] = np.linspace(0, 0.1, 50)
    points["normal"] = RNG.normal(size=(50, 3))
    msg = received(array_to_pointcloud2(points))
    assert msg.point_step == 48
    assert {f.name: (f.offset, f.count) for f in msg.fields}["normal"] == (32, 3)
    back = pointcloud2_to_array(msg)
    for name in dtype.names:
        np.testing.assert_array_equal(back[name], points[name])
    np.testing.assert_array_equal(pointcloud2_field(msg, "ring", np.int64), points["ring"])


def test_big_endian_cloud() -> None:
    points = np.zeros(10, dtype=[("x", ">f4"), ("y", ">f4"), ("z", ">f4")])
    points["x"] = np.arange(10)
    msg = received(array_to_pointcloud2(points))
    assert msg.is_bigendian
    xyz, _ = pointcloud2_to_xyz(msg)
    assert xyz.dtype == np.float32 and xyz.dtype.byteorder in "=<|"
    np.testing.assert_array_equal(xyz[:, 0], np.arange(10))


def test_organised_cloud_with_row_padding() -> None:
    points = np.zeros((4, 8), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    points["z"] = np.arange(32).reshape(4, 8)
    row_step = 8 * 12 + 16
    data = np.zeros((4, row_step), np.uint8)
    data[:, : 8 * 12] = points.view(np.uint8).reshape(4, -1)
    msg = PointCloud2(height=4, width=8, point_step=12, row_step=row_step, data=data.tobytes())
    msg.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    xyz, _ = pointcloud2_to_xyz(received(msg))
    np.testing.assert_array_equal(xyz[:, 2], np.arange(32))


def test_nan_points_are_dropped_even_when_the_cloud_claims_dense() -> None:
    xyz = RNG.normal(size=(6, 3)).astype(np.float32)
    xyz[1, 0] = np.nan
    xyz[4, 2] = np.inf
    msg = xyz_to_pointcloud2(xyz)
    assert not msg.is_dense
    msg.is_dense = True  # a lying driver
    out, kept = pointcloud2_to_xyz(received(msg))
    np.testing.assert_array_equal(kept, [0, 2, 3, 5])
    np.testing.assert_array_equal(out, xyz[[0, 2, 3, 5]])
    raw, none = pointcloud2_to_xyz(msg, drop_invalid=False)
    assert raw.shape == (6, 3) and none is None


def test_empty_cloud_is_valid_and_empty() -> None:
    msg = xyz_to_pointcloud2(np.zeros((0, 3), np.float32))
    xyz, _ = pointcloud2_to_xyz(received(msg))
    assert xyz.shape == (0, 3)


def base_cloud() -> PointCloud2:
    return received(xyz_to_pointcloud2(np.ones((4, 3), np.float32)))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "point_step", 0), "point_step 0"),
        (lambda m: setattr(m, "fields", []), "no fields"),
        (lambda m: setattr(m, "data", bytes(10)), "expected row_step"),
        (lambda m: setattr(m, "row_step", 4), "smaller than width"),
        (lambda m: m.fields.__setitem__(0, PointField(name="x", offset=0, datatype=99, count=1)), "unknown datatype"),
        (lambda m: m.fields.__setitem__(1, PointField(name="x", offset=4, datatype=7, count=1)), "duplicate"),
        (lambda m: m.fields.__setitem__(2, PointField(name="z", offset=10, datatype=7, count=1)), "runs past"),
        (lambda m: m.fields.__setitem__(2, PointField(name="", offset=8, datatype=7, count=1)), "empty name"),
        (lambda m: (setattr(m, "height", 100_000), setattr(m, "row_step", 20_000)), "implausibly large"),
    ],
)
def test_bad_clouds_raise_conversion_error(mutate, reason: str) -> None:
    msg = base_cloud()
    mutate(msg)
    with pytest.raises(ConversionError, match=reason):
        pointcloud2_to_xyz(msg)


def test_cloud_without_xyz_is_refused_for_xyz_but_readable() -> None:
    points = np.zeros(3, dtype=[("range", "<f4"), ("intensity", "<f4")])
    msg = received(array_to_pointcloud2(points))
    with pytest.raises(ConversionError, match="lacks field"):
        pointcloud2_to_xyz(msg)
    with pytest.raises(ConversionError, match="lacks field"):
        pointcloud2_field(msg, "ring")
    assert pointcloud2_to_array(msg).shape == (3,)


def test_coordinates_with_a_count_are_refused_not_crashed_on() -> None:
    """Found by the atheris harness: x declared with count 2 raised a numpy broadcasting error."""
    points = np.zeros(4, dtype=[("x", "<f4", (2,)), ("y", "<f4"), ("z", "<f4"), ("label", "u1", (3,))])
    msg = received(array_to_pointcloud2(points))
    with pytest.raises(ConversionError, match="'x' has count 2"):
        pointcloud2_to_xyz(msg)
    with pytest.raises(ConversionError, match="'label' has count 3"):
        pointcloud2_field(msg, "label")


def test_writers_refuse_what_pointfield_cannot_describe() -> None:
    with pytest.raises(ConversionError, match="structured"):
        array_to_pointcloud2(np.zeros((3, 3), np.float32))
    with pytest.raises(ConversionError, match="cannot describe"):
        array_to_pointcloud2(np.zeros(3, dtype=[("x", "<f4"), ("flag", "?")]))
    with pytest.raises(ConversionError, match="shape"):
        xyz_to_pointcloud2(np.zeros((3, 2), np.float32))
    with pytest.raises(ConversionError, match="field 'intensity'"):
        xyz_to_pointcloud2(np.zeros((3, 3), np.float32), extra_fields={"intensity": np.zeros(4)})


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["x", "y", "z", "i", "ring"]), st.integers(0, 40), st.integers(0, 10), st.integers(0, 3)
        ),
        max_size=5,
    ),
    point_step=st.integers(0, 48),
    width=st.integers(0, 20),
    height=st.integers(0, 3),
    row_pad=st.integers(-4, 8),
    size_delta=st.integers(-3, 3),
    bigendian=st.booleans(),
)
def test_cloud_fuzz_never_crashes(fields, point_step, width, height, row_pad, size_delta, bigendian) -> None:
    msg = PointCloud2(height=height, width=width, point_step=point_step, is_bigendian=bigendian)
    msg.fields = [PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields]
    msg.row_step = max(width * point_step + row_pad, 0)
    msg.data = bytes(max(msg.row_step * height + size_delta, 0))
    try:
        xyz, _ = pointcloud2_to_xyz(msg)
    except ConversionError:
        return
    assert xyz.ndim == 2 and xyz.shape[1] == 3 and np.isfinite(xyz).all()


# --- poses and transforms -------------------------------------------------------------------------


def test_transform_stamped_round_trip() -> None:
    q = np.array([0.1, -0.2, 0.3, 0.9]) / np.linalg.norm([0.1, -0.2, 0.3, 0.9])
    rotation = quaternion_to_matrix(*q)
    transform = make_transform(rotation, [1.0, -2.0, 0.5])
    msg = matrix_to_transform_stamped(transform, "base_link", "lidar_top", 42)
    parent, child, back = transform_stamped_to_matrix(msg)
    assert (parent, child) == ("base_link", "lidar_top")
    np.testing.assert_allclose(back, transform, atol=1e-12)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m.header, "frame_id", ""), "frame id"),
        (lambda m: setattr(m, "child_frame_id", "base_link"), "to itself"),
        (lambda m: setattr(m.transform.rotation, "w", 0.0), "not a rotation"),
        (lambda m: setattr(m.transform.rotation, "x", float("nan")), "not a rotation"),
        (lambda m: setattr(m.transform.translation, "y", float("inf")), "not finite"),
    ],
)
def test_bad_transforms(mutate, reason: str) -> None:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = "base_link", "camera"
    msg.transform.rotation.w = 1.0
    mutate(msg)
    with pytest.raises(ConversionError, match=reason):
        transform_stamped_to_matrix(msg)


def test_odometry_round_trip() -> None:
    pose = make_transform(quaternion_to_matrix(0, 0, np.sin(0.4), np.cos(0.4)), [10.0, 5.0, 0.0])
    state = OdometryState(123, "map", "base_link", pose, np.array([8.0, 0.1, 0.0]), np.array([0, 0, 0.2]))
    back = odometry_to_state(state_to_odometry(state))
    assert (back.stamp_ns, back.frame_id, back.child_frame_id) == (123, "map", "base_link")
    np.testing.assert_allclose(back.pose, pose, atol=1e-12)
    np.testing.assert_allclose(back.linear_velocity, [8.0, 0.1, 0.0])


def test_bad_odometry() -> None:
    msg = Odometry()
    msg.pose.pose.orientation.w = 1.0
    msg.twist.twist.linear.x = float("nan")
    with pytest.raises(ConversionError, match="twist"):
        odometry_to_state(msg)
    msg.twist.twist.linear.x = 0.0
    msg.pose.pose.position.x = float("nan")
    with pytest.raises(ConversionError, match="position"):
        odometry_to_state(msg)
    msg.pose.pose.position.x = 0.0
    msg.pose.pose.orientation.w = 0.0
    with pytest.raises(ConversionError, match="rotation"):
        odometry_to_state(msg)


def test_the_ros_free_readers_know_point_fields_by_rclpys_numbers() -> None:
    """data.messages reads clouds without sensor_msgs, so it writes PointField's datatype numbers out: they
    must be the message's own constants, each with the numpy type of its name."""
    from kvision_driving.data.messages import POINT_FIELD_DTYPES

    expected = {
        PointField.INT8: np.int8,
        PointField.UINT8: np.uint8,
        PointField.INT16: np.int16,
        PointField.UINT16: np.uint16,
        PointField.INT32: np.int32,
        PointField.UINT32: np.uint32,
        PointField.FLOAT32: np.float32,
        PointField.FLOAT64: np.float64,
    }
    assert {code: dtype.type for code, dtype in POINT_FIELD_DTYPES.items()} == expected
