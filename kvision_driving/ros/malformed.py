"""A corpus of malformed sensor messages, one per way a driver, a bag or a bridge can get them wrong.

Each entry is wrong for every node that reads its stream, so a node must skip it and count it in
``/diagnostics``; none may crash or publish from it. Used by the bad-input test of every node and
by anyone hardening a new node: ``for case in malformed_corpus(): publish(case.stream, case.message)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from tf2_msgs.msg import TFMessage

from kvision_driving.core.camera import PinholeCamera
from kvision_driving.core.geometry import make_transform
from kvision_driving.ros.convert import (
    make_header,
    matrix_to_transform_stamped,
    numpy_to_image,
    pinhole_to_camera_info,
    xyz_to_pointcloud2,
)

#: Every input stream the corpus covers: topic and message type, as in the topic contract.
STREAMS: dict[str, tuple[str, type]] = {
    "camera": ("/sensing/camera/front/image_raw", Image),
    "camera_info": ("/sensing/camera/front/camera_info", CameraInfo),
    "labels": ("/perception/segmentation/labels", Image),
    "lidar": ("/sensing/lidar/top/points", PointCloud2),
    "painted_points": ("/perception/fusion/painted_points", PointCloud2),
    "odometry": ("/localization/odometry", Odometry),
    "tf_static": ("/tf_static", TFMessage),
}

CAMERA_FRAME = "camera_front_optical"
LIDAR_FRAME = "lidar_top"
BASE_FRAME = "base_link"


@dataclass(frozen=True)
class Malformed:
    name: str  # what is wrong, unique in the corpus
    stream: str  # a key of STREAMS
    message: object


@dataclass(frozen=True)
class ValidInputs:
    """Well-formed messages of every stream, consistent with each other (the corpus's starting points)."""

    camera: PinholeCamera
    image: Image
    camera_info: CameraInfo
    labels: Image
    lidar: PointCloud2
    painted_points: PointCloud2
    odometry: Odometry
    tf_static: TFMessage


def valid_inputs(stamp_ns: int, width: int = 64, height: int = 48) -> ValidInputs:
    """A small camera looking forward from 1.5 m, a lidar on the roof, ego at the map origin."""
    rng = np.random.default_rng(stamp_ns % 2**32)
    camera = PinholeCamera.from_fov(width, height, np.deg2rad(90.0))
    xyz = np.column_stack([rng.uniform(5, 30, 500), rng.uniform(-8, 8, 500), rng.uniform(-1.8, 0.5, 500)])
    xyz = xyz.astype(np.float32)
    odometry = Odometry()
    odometry.header = make_header(stamp_ns, "map")
    odometry.child_frame_id = BASE_FRAME
    odometry.pose.pose.orientation.w = 1.0
    odometry.twist.twist.linear.x = 5.0
    optical = make_transform([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], [1.5, 0.0, 1.5])
    return ValidInputs(
        camera=camera,
        image=numpy_to_image(
            rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "rgb8", make_header(stamp_ns, CAMERA_FRAME)
        ),
        camera_info=pinhole_to_camera_info(camera, make_header(stamp_ns, CAMERA_FRAME)),
        labels=numpy_to_image(
            rng.integers(0, 19, (height, width), dtype=np.uint8), "mono8", make_header(stamp_ns, CAMERA_FRAME)
        ),
        lidar=xyz_to_pointcloud2(
            xyz, make_header(stamp_ns, LIDAR_FRAME), {"intensity": rng.uniform(0, 1, len(xyz)).astype(np.float32)}
        ),
        painted_points=xyz_to_pointcloud2(
            xyz, make_header(stamp_ns, LIDAR_FRAME), {"label": rng.integers(0, 19, len(xyz), dtype=np.uint8)}
        ),
        odometry=odometry,
        tf_static=TFMessage(
            transforms=[
                matrix_to_transform_stamped(make_transform(translation=[1.0, 0.0, 1.9]), BASE_FRAME, LIDAR_FRAME),
                matrix_to_transform_stamped(optical, BASE_FRAME, CAMERA_FRAME),
            ]
        ),
    )


def _edited(message: object, edit: Callable[[object], None]) -> object:
    changed = copy.deepcopy(message)
    edit(changed)
    return changed


def _set(**fields: object) -> Callable[[object], None]:
    def edit(message: object) -> None:
        for name, value in fields.items():
            setattr(message, name, value)

    return edit


def _image_cases(image: Image) -> list[tuple[str, Image]]:
    row = image.width * 3
    return [
        ("image: unsupported encoding yuv422", _edited(image, _set(encoding="yuv422"))),
        ("image: empty encoding", _edited(image, _set(encoding=""))),
        ("image: made-up encoding", _edited(image, _set(encoding="rgb9"))),
        ("image: zero width", _edited(image, _set(width=0))),
        ("image: zero height", _edited(image, _set(height=0))),
        ("image: absurd width", _edited(image, _set(width=1_000_000, step=3_000_000))),
        ("image: step shorter than a row", _edited(image, _set(step=row - 3))),
        ("image: data one byte short", _edited(image, _set(data=bytes(image.data)[:-1]))),
        ("image: data one byte long", _edited(image, _set(data=bytes(image.data) + b"\0"))),
        ("image: no data", _edited(image, _set(data=b""))),
        ("image: step larger than the data", _edited(image, _set(step=row + 16))),
        (
            "image: 16-bit depth on the camera topic",
            numpy_to_image(np.zeros((image.height, image.width), np.uint16), "16UC1", image.header),
        ),
        (
            "image: float image with NaN on the camera topic",
            numpy_to_image(np.full((image.height, image.width), np.nan, np.float32), "32FC1", image.header),
        ),
        (
            "image: mono16 with an odd step",
            _edited(
                numpy_to_image(np.zeros((image.height, image.width), np.uint16), "mono16", image.header),
                _set(step=image.width * 2 + 1, data=bytes((image.width * 2 + 1) * image.height)),
            ),
        ),
    ]


def _label_cases(labels: Image) -> list[tuple[str, Image]]:
    height, width = labels.height, labels.width
    return [
        (
            "labels: rgb8 instead of mono8",
            numpy_to_image(np.zeros((height, width, 3), np.uint8), "rgb8", labels.header),
        ),
        (
            "labels: class ids beyond the label space",
            numpy_to_image(np.full((height, width), 77, np.uint8), "mono8", labels.header),
        ),
        (
            "labels: 16-bit ids",
            numpy_to_image(np.zeros((height, width), np.uint16), "mono16", labels.header),
        ),
        ("labels: data short", _edited(labels, _set(data=bytes(labels.data)[: width * (height - 1)]))),
        (
            "labels: size does not match the camera",
            numpy_to_image(np.zeros((height // 2, width // 2), np.uint8), "mono8", labels.header),
        ),
    ]


def _camera_info_cases(info: CameraInfo) -> list[tuple[str, CameraInfo]]:
    def k_with(index: int, value: float) -> Callable[[object], None]:
        def edit(message: object) -> None:
            k = list(message.k)  # type: ignore[attr-defined]
            k[index] = value
            message.k = k  # type: ignore[attr-defined]

        return edit

    return [
        ("camera_info: K all zero", _edited(info, _set(k=[0.0] * 9))),
        ("camera_info: NaN focal length", _edited(info, k_with(0, float("nan")))),
        ("camera_info: infinite principal point", _edited(info, k_with(2, float("inf")))),
        ("camera_info: negative focal length", _edited(info, k_with(4, -100.0))),
        ("camera_info: zero fx", _edited(info, k_with(0, 0.0))),
        ("camera_info: zero width", _edited(info, _set(width=0))),
        ("camera_info: zero height", _edited(info, _set(height=0))),
        ("camera_info: absurd size", _edited(info, _set(width=1_000_000, height=1_000_000))),
        ("camera_info: plumb_bob with 3 coefficients", _edited(info, _set(distortion_model="plumb_bob", d=[0.1] * 3))),
        ("camera_info: unknown distortion model", _edited(info, _set(distortion_model="fisheye62"))),
        ("camera_info: R is not a rotation", _edited(info, _set(r=[2.0] * 9))),
        ("camera_info: NaN in P", _edited(info, _set(p=[float("nan")] * 12))),
    ]


def _field(name: str, offset: int, datatype: int = PointField.FLOAT32) -> PointField:
    return PointField(name=name, offset=offset, datatype=datatype, count=1)


def _cloud_cases(stream: str, cloud: PointCloud2) -> list[tuple[str, PointCloud2]]:
    xyz = np.random.default_rng(1).uniform(2, 20, (200, 3)).astype(np.float32)
    no_z = _edited(cloud, lambda m: setattr(m, "fields", [f for f in m.fields if f.name != "z"]))
    return [
        (f"{stream}: empty cloud", xyz_to_pointcloud2(np.zeros((0, 3), np.float32), cloud.header)),
        (f"{stream}: data short", _edited(cloud, _set(data=bytes(cloud.data)[:-7]))),
        (f"{stream}: row_step below width*point_step", _edited(cloud, _set(row_step=cloud.row_step - 1))),
        (f"{stream}: point_step 0", _edited(cloud, _set(point_step=0))),
        (f"{stream}: no z field", no_z),
        (f"{stream}: no fields", _edited(cloud, _set(fields=[]))),
        (f"{stream}: unknown datatype", _edited(cloud, _set(fields=[_field("x", 0, 42), *cloud.fields[1:]]))),
        (
            f"{stream}: field beyond point_step",
            _edited(cloud, _set(fields=[*cloud.fields[:2], _field("z", cloud.point_step)])),
        ),
        (f"{stream}: duplicate x field", _edited(cloud, _set(fields=[*cloud.fields, _field("x", 4)]))),
        (f"{stream}: field without a name", _edited(cloud, _set(fields=[*cloud.fields, _field("", 0)]))),
        (
            f"{stream}: absurd width with little data",
            _edited(cloud, _set(width=10**9, row_step=10**9 * cloud.point_step)),
        ),
        (f"{stream}: only NaN points", _edited(cloud, lambda m: _fill_xyz(m, np.nan))),
        (f"{stream}: only infinite points", _edited(cloud, lambda m: _fill_xyz(m, np.inf))),
        (
            f"{stream}: frame without extrinsics",
            _edited(cloud, lambda m: setattr(m.header, "frame_id", "lidar_nowhere")),
        ),
        (f"{stream}: zero height", _edited(cloud, _set(height=0))),
        (f"{stream}: no label field", xyz_to_pointcloud2(xyz, cloud.header))
        if stream == "painted_points"
        else (f"{stream}: x and z swapped into one offset", _edited(cloud, _set(fields=_overlapping(cloud)))),
    ]


def _overlapping(cloud: PointCloud2) -> list[PointField]:
    fields = copy.deepcopy(list(cloud.fields))
    fields[2].offset = fields[0].offset + 2  # z overlapping x: no real driver writes that
    return fields


def _fill_xyz(cloud: PointCloud2, value: float) -> None:
    points = np.frombuffer(bytes(cloud.data), np.uint8).reshape(-1, cloud.point_step).copy()
    points[:, :12] = np.full((len(points), 3), value, np.float32).view(np.uint8)
    cloud.data = points.tobytes()


def _odometry_cases(odometry: Odometry) -> list[tuple[str, Odometry]]:
    def pose(**values: float) -> Callable[[object], None]:
        def edit(message: object) -> None:
            for path, value in values.items():
                part, name = path.split("_")
                setattr(getattr(message.pose.pose, part), name, value)  # type: ignore[attr-defined]

        return edit

    def twist(part: str, value: float) -> Callable[[object], None]:
        return lambda m: setattr(getattr(m.twist.twist, part), "x", value)

    return [
        ("odometry: NaN position", _edited(odometry, pose(position_x=float("nan")))),
        ("odometry: infinite position", _edited(odometry, pose(position_y=float("inf")))),
        ("odometry: zero quaternion", _edited(odometry, pose(orientation_w=0.0))),
        ("odometry: quaternion of norm 2", _edited(odometry, pose(orientation_w=2.0))),
        ("odometry: NaN quaternion", _edited(odometry, pose(orientation_z=float("nan")))),
        ("odometry: NaN velocity", _edited(odometry, twist("linear", float("nan")))),
        ("odometry: infinite yaw rate", _edited(odometry, twist("angular", float("inf")))),
    ]


def _tf_cases(transforms: TFMessage) -> list[tuple[str, TFMessage]]:
    lidar = transforms.transforms[0]

    def one(edit: Callable[[object], None]) -> TFMessage:
        return TFMessage(transforms=[_edited(lidar, edit)])

    return [
        ("tf: NaN translation", one(lambda t: setattr(t.transform.translation, "x", float("nan")))),
        ("tf: infinite translation", one(lambda t: setattr(t.transform.translation, "z", float("inf")))),
        ("tf: zero quaternion", one(lambda t: setattr(t.transform.rotation, "w", 0.0))),
        ("tf: quaternion of norm 3", one(lambda t: setattr(t.transform.rotation, "w", 3.0))),
        ("tf: frame to itself", one(lambda t: setattr(t, "child_frame_id", BASE_FRAME))),
        ("tf: empty child frame", one(lambda t: setattr(t, "child_frame_id", ""))),
        ("tf: empty parent frame", one(lambda t: setattr(t.header, "frame_id", ""))),
    ]


def malformed_corpus(stamp_ns: int) -> list[Malformed]:
    """Every malformed message, stamped ``stamp_ns`` (so no node mistakes one for a clock jump)."""
    valid = valid_inputs(stamp_ns)
    groups: list[tuple[str, list[tuple[str, object]]]] = [
        ("camera", _image_cases(valid.image)),
        ("labels", _label_cases(valid.labels)),
        ("camera_info", _camera_info_cases(valid.camera_info)),
        ("lidar", _cloud_cases("lidar", valid.lidar)),
        ("painted_points", _cloud_cases("painted_points", valid.painted_points)),
        ("odometry", _odometry_cases(valid.odometry)),
        ("tf_static", _tf_cases(valid.tf_static)),
    ]
    corpus = [Malformed(name, stream, message) for stream, cases in groups for name, message in cases]
    names = [case.name for case in corpus]
    if len(set(names)) != len(names):  # a programming error in this module, caught by its test
        raise AssertionError("malformed corpus names must be unique")
    return corpus
