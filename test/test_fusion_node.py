"""fusion_node on the simulator's live output (ground-truth labels stand in for segmentation): real processes."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from autoware_perception_msgs.msg import TrackedObjects
from sensor_msgs.msg import PointCloud2

from kvision_driving.ros.convert import pointcloud2_to_array, stamp_to_ns
from kvision_driving.ros.qos import qos_by_name


def position(tracked_object: object) -> np.ndarray:
    point = tracked_object.kinematics.pose_with_covariance.pose.position
    return np.array([point.x, point.y])


def test_fusion_tracks_the_braking_lead_car(ros_graph, probe, tmp_path: Path) -> None:
    tracked = probe.subscribe(TrackedObjects, "/perception/objects/tracked", qos_by_name("reliable"))
    truth = probe.subscribe(TrackedObjects, "/ground_truth/objects/tracked", qos_by_name("reliable"))
    painted = probe.subscribe(PointCloud2, "/perception/fusion/painted_points", qos_by_name("sensor_data"))
    ros_graph.start(
        "fusion",
        [
            "fusion_node",
            "--ros-args",
            "-r",
            "/perception/segmentation/labels:=/ground_truth/camera/front/labels",
            "-p",
            "confidence_topics:=['']",
        ],
    )
    ros_graph.start(
        "sim",
        [
            "sim_node",
            "--ros-args",
            "-p",
            "scenario:=lead_vehicle_braking",
            "-p",
            "drive:=autopilot",
            "-p",
            "clock_mode:=realtime",
            "-p",
            "duration_s:=7.0",
            "-p",
            "start_delay_s:=3.0",
        ],
    )
    assert ros_graph.wait("sim", 120) == 0, ros_graph.log("sim")
    probe.wait_for(lambda: len(tracked) > 20, 30, "tracked objects")
    assert ros_graph.alive("fusion"), ros_graph.log("fusion")
    assert painted and {"label", "confidence"} <= set(pointcloud2_to_array(painted[-1]).dtype.names)

    truth_by_stamp = {stamp_to_ns(message.header.stamp): message for message in truth}
    lead = uuid.uuid5(uuid.NAMESPACE_URL, "kvision-sim/lead_vehicle_braking/11/1").bytes
    errors, speed_errors = [], []
    for message in tracked[10:]:
        reference = truth_by_stamp.get(stamp_to_ns(message.header.stamp))
        if reference is None or message.header.frame_id != "map":
            continue
        (gt,) = [o for o in reference.objects if bytes(o.object_id.uuid) == lead]
        gt_xy = position(gt)
        cars = [o for o in message.objects if o.classification[0].label == 1]
        if not cars:
            continue
        xy = [position(o) for o in cars]
        nearest = int(np.argmin([np.linalg.norm(p - gt_xy) for p in xy]))
        errors.append(float(np.linalg.norm(xy[nearest] - gt_xy)))
        twist = cars[nearest].kinematics.twist_with_covariance.twist.linear
        speed = np.hypot(twist.x, twist.y)
        speed_errors.append(abs(speed - gt.kinematics.twist_with_covariance.twist.linear.x))
    assert len(errors) >= 15
    assert np.median(errors) < 0.5, errors
    assert np.median(speed_errors) < 1.0, speed_errors
