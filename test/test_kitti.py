"""KITTI import on the real sample: calibration chain, projection onto the image, the labelled pedestrian."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader

from kvision_driving.core.frames import StaticFrameTree
from kvision_driving.core.geometry import invert_transform, transform_points
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.data.kitti import KittiError, find_frames, read_calibration, read_velodyne
from kvision_driving.perception.objects import detect_objects
from kvision_driving.perception.painting import CameraView, paint
from kvision_driving.ros.convert import camera_info_to_pinhole, pointcloud2_to_xyz, transform_stamped_to_matrix

KITTI = SHARED_DATA / "kitti"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("kitti") / "bag"
    result = subprocess.run(
        [str(BIN / "kvision"), "import-kitti", str(KITTI), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    messages = {}
    with Reader(out) as reader:
        for connection, _, raw in reader.messages():
            package, _, name = connection.msgtype.split("/")
            cls = getattr(importlib.import_module(f"{package}.msg"), name)
            messages[connection.topic] = deserialize_message(raw, cls)
    return messages


def test_points_land_in_the_pedestrians_image_box(bag: dict[str, object]) -> None:
    tree = StaticFrameTree()
    for transform in bag["/tf_static"].transforms:
        tree.add(*transform_stamped_to_matrix(transform))
    camera = camera_info_to_pinhole(bag["/sensing/camera/front/camera_info"])
    xyz, _ = pointcloud2_to_xyz(bag["/sensing/lidar/top/points"])
    assert len(xyz) > 100_000
    optical = transform_points(tree.lookup("camera_2_optical", "velodyne"), xyz.astype(np.float64))
    uv, inside = camera.project(optical)
    assert 15_000 < inside.sum() < 30_000  # the camera sees a ~90 degree wedge of the 360 degree scan
    (frame,) = find_frames(KITTI)
    (pedestrian,) = [o for o in frame.objects if o.kind == "pedestrian"]
    left, top, right, bottom = pedestrian.box_2d
    in_box = inside & (uv[:, 0] >= left) & (uv[:, 0] <= right) & (uv[:, 1] >= top) & (uv[:, 1] <= bottom)
    # Points in the box near the label's range: the pedestrian itself (the rest is background).
    distance = np.linalg.norm(xyz[:, :2] - pedestrian.centre_velodyne[:2], axis=1)
    on_pedestrian = in_box & (distance < 0.6)
    assert on_pedestrian.sum() >= 30
    assert in_box[distance < 0.6].mean() > 0.8  # nearly all points at the label project into its 2-D box


def test_labelled_pedestrian_is_one_cluster_at_the_label(bag: dict[str, object]) -> None:
    """Paint the points in the 2-D label box as person (a perfect detector), cluster: one pedestrian within 0.5 m."""
    tree = StaticFrameTree()
    for transform in bag["/tf_static"].transforms:
        tree.add(*transform_stamped_to_matrix(transform))
    camera = camera_info_to_pinhole(bag["/sensing/camera/front/camera_info"])
    xyz, _ = pointcloud2_to_xyz(bag["/sensing/lidar/top/points"])
    (frame,) = find_frames(KITTI)
    (pedestrian,) = [o for o in frame.objects if o.kind == "pedestrian"]
    left, top, right, bottom = (round(v) for v in pedestrian.box_2d)
    mask = np.full((camera.height, camera.width), 255, np.uint8)
    mask[top:bottom, left:right] = TRAIN_ID["person"]
    view = CameraView(camera, mask, None, tree.lookup("camera_2_optical", "velodyne"))
    labels, confidence = paint(xyz.astype(np.float64), [view])
    base = transform_points(tree.lookup("base_link", "velodyne"), xyz.astype(np.float64))
    detections = detect_objects(base, labels, confidence)
    label_centre = transform_points(tree.lookup("base_link", "velodyne"), pedestrian.centre_velodyne[None])[0]
    near = [d for d in detections if np.linalg.norm(d.centre[:2] - label_centre[:2]) < 2.0]
    assert len(near) == 1 and near[0].kind == "pedestrian"
    assert np.linalg.norm(near[0].centre[:2] - label_centre[:2]) < 0.5
    ground_truth = bag["/ground_truth/objects/detected"].objects
    assert len(ground_truth) == 1 and ground_truth[0].classification[0].label == 7  # PEDESTRIAN


def test_calibration_chain_is_consistent() -> None:
    calibration = read_calibration(KITTI / "000000" / "calib.txt")
    # velodyne -> camera 2 and its inverse compose to identity; the projection equals P2 @ R0 @ Tr.
    points = np.array([[10.0, 1.0, -0.5], [20.0, -3.0, 0.2]])
    optical = transform_points(calibration.velodyne_to_camera2(), points)
    uv_ours = (calibration.p2[:, :3] @ optical.T).T
    uv_ours = uv_ours[:, :2] / uv_ours[:, 2:]
    homogeneous = np.column_stack([points, np.ones(2)])
    rectified = calibration.r0_rect @ (calibration.velo_to_cam0 @ homogeneous.T)
    uv_kitti = calibration.p2 @ np.vstack([rectified, np.ones(2)])
    np.testing.assert_allclose(uv_ours, (uv_kitti[:2] / uv_kitti[2]).T, atol=1e-6)
    assert np.allclose(
        invert_transform(calibration.velodyne_to_camera2()) @ calibration.velodyne_to_camera2(), np.eye(4)
    )


def test_bad_kitti_files_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "calib.txt"
    bad.write_text("P2: 1 2 3\nR0_rect: 1 0 0 0 1 0 0 0 1\n")
    with pytest.raises(KittiError, match="P2 missing or not 12 numbers"):
        read_calibration(bad)
    bad.write_text("P2: a b c\n")
    with pytest.raises(KittiError, match="not numbers"):
        read_calibration(bad)
    scan = tmp_path / "velodyne.bin"
    scan.write_bytes(np.zeros(7, np.float32).tobytes())
    with pytest.raises(KittiError, match="whole number"):
        read_velodyne(scan)
    result = subprocess.run(
        [str(BIN / "kvision"), "import-kitti", str(tmp_path), "--out", str(tmp_path / "bag")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


def test_the_lidar_height_comes_from_the_scans_not_from_kittis_car() -> None:
    """KITTI's HDL-64E is 1.73 m above the road; the Argoverse frames' origin is the ego frame near the ground.
    The importer measures each: base_link is on the road under the lidar for both."""
    from kvision_driving.data.kitti import lidar_height
    from kvision_driving.ros.kitti_import import velodyne_in_base

    (kitti,) = find_frames(KITTI)
    assert lidar_height(kitti.points) == pytest.approx(1.73, abs=0.1)
    argoverse = find_frames(SHARED_DATA / "argoverse_kitti")
    heights = [lidar_height(frame.points) for frame in argoverse]
    assert all(h == pytest.approx(0.38, abs=0.1) for h in heights), heights
    assert velodyne_in_base(argoverse)[2, 3] == pytest.approx(np.median(heights), abs=0.03)  # RANSAC varies a little
    # Road returns land near z = 0 in base_link.
    base = transform_points(velodyne_in_base(argoverse), argoverse[0].points[:, :3].astype(np.float64))
    near = np.hypot(base[:, 0], base[:, 1]) < 15
    assert abs(np.percentile(base[near, 2], 10)) < 0.15
    assert {o.kind for o in argoverse[0].objects} == {"car", "pedestrian"}  # Argoverse's upper-case names
