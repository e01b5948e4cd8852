"""``kvision import-kitti``: KITTI frames into a rosbag2 our stack (and any ROS 2 tool) reads as is.

Topics match the simulator's and the vehicle's: /sensing/camera/front/{image_raw,camera_info},
/sensing/lidar/top/points (x, y, z, intensity), /tf_static, /clock, and the labels as
/ground_truth/objects/detected (autoware_perception_msgs/DetectedObjects in base_link).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from autoware_perception_msgs.msg import DetectedObjects
from rosgraph_msgs.msg import Clock
from tf2_msgs.msg import TFMessage
from tqdm import tqdm

from kvision_driving.core.geometry import Matrix4, invert_transform, make_transform, transform_points
from kvision_driving.data.kitti import VELODYNE_HEIGHT, KittiFrame, find_frames, lidar_height
from kvision_driving.perception.objects import Detection
from kvision_driving.ros.bag import BagWriter
from kvision_driving.ros.convert import (
    make_header,
    matrix_to_transform_stamped,
    ns_to_stamp,
    numpy_to_image,
    pinhole_to_camera_info,
    xyz_to_pointcloud2,
)
from kvision_driving.ros.object_messages import detected_objects

START_NS = 100_000_000_000
PERIOD_NS = 100_000_000  # KITTI's 10 Hz
CAMERA_FRAME, LIDAR_FRAME, BASE_FRAME = "camera_2_optical", "velodyne", "base_link"


def velodyne_in_base(frames: list[KittiFrame]) -> Matrix4:
    """base_link (on the road, under the lidar) <- velodyne: the height measured from the scans (median over
    the frames), KITTI's 1.73 m where no level road is found."""
    heights = [height for height in (lidar_height(frame.points) for frame in frames) if height is not None]
    return make_transform(translation=[0.0, 0.0, float(np.median(heights)) if heights else VELODYNE_HEIGHT])


def kitti_static_transforms(frame: KittiFrame, stamp_ns: int, lidar_in_base: Matrix4) -> TFMessage:
    camera_in_velodyne = invert_transform(frame.calibration.velodyne_to_camera2())
    return TFMessage(
        transforms=[
            matrix_to_transform_stamped(lidar_in_base, BASE_FRAME, LIDAR_FRAME, stamp_ns),
            matrix_to_transform_stamped(lidar_in_base @ camera_in_velodyne, BASE_FRAME, CAMERA_FRAME, stamp_ns),
        ]
    )


def label_detections(frame: KittiFrame, lidar_in_base: Matrix4) -> list[Detection]:
    detections = []
    for obj in frame.objects:
        centre = transform_points(lidar_in_base, obj.centre_velodyne[None])[0]
        detections.append(Detection(obj.kind, 1.0, centre, obj.yaw_velodyne, obj.size, 0))
    return detections


def import_kitti(root: Path, out: Path, storage: str = "mcap", progress: bool = True) -> dict[str, int]:
    frames = find_frames(root)
    lidar_in_base = velodyne_in_base(frames)
    with BagWriter(out, storage) as bag:
        bag.write("/tf_static", kitti_static_transforms(frames[0], START_NS, lidar_in_base), START_NS, "latched")
        for index, frame in enumerate(tqdm(frames, desc="importing KITTI", unit="frame", disable=not progress)):
            stamp = START_NS + index * PERIOD_NS
            height, width = frame.image.shape[:2]
            camera_header = make_header(stamp, CAMERA_FRAME)
            bag.write("/clock", Clock(clock=ns_to_stamp(stamp)), stamp)
            bag.write(
                "/sensing/camera/front/image_raw",
                numpy_to_image(frame.image, "rgb8", camera_header),
                stamp,
                "sensor_data",
            )
            bag.write(
                "/sensing/camera/front/camera_info",
                pinhole_to_camera_info(frame.calibration.camera(width, height), camera_header),
                stamp,
                "sensor_data",
            )
            points = frame.points
            cloud = xyz_to_pointcloud2(
                points[:, :3], make_header(stamp, LIDAR_FRAME), {"intensity": np.ascontiguousarray(points[:, 3])}
            )
            bag.write("/sensing/lidar/top/points", cloud, stamp, "sensor_data")
            labels: DetectedObjects = detected_objects(
                label_detections(frame, lidar_in_base), make_header(stamp, BASE_FRAME)
            )
            bag.write("/ground_truth/objects/detected", labels, stamp)
        return dict(bag.counts)
