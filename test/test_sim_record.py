"""`kvision sim record`: bags that rosbags reads back and rclpy deserializes into the recorded messages."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_INTERFACES
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader

from kvision_driving.data.bag_source import open_bag
from kvision_driving.ros.convert import image_to_numpy, pointcloud2_to_array, stamp_to_ns
from kvision_driving.sim.scenario import load_scenario
from kvision_driving.sim.simulator import START_NS, Simulator

BIN = Path(sys.executable).parent
REFERENCE = json.loads((SHARED_INTERFACES / "type_hashes.json").read_text())


def message_class(msgtype: str) -> type:
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorded_bag_reads_back_as_ros_messages(tmp_path: Path, storage: str) -> None:
    bag = tmp_path / "bag"
    result = subprocess.run(
        [
            str(BIN / "kvision"),
            "sim",
            "record",
            "--scenario",
            "pedestrian_crossing",
            "--duration",
            "1.0",
            "--storage",
            storage,
            "--out",
            str(bag),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    messages: dict[str, list] = {}
    with Reader(bag) as reader:
        connections = {c.topic: c for c in reader.connections}
        for connection in reader.connections:
            if connection.msgtype in REFERENCE:  # our interface types carry the official hashes
                assert connection.digest == REFERENCE[connection.msgtype]["hash"], connection.msgtype
        for connection, timestamp, raw in reader.messages():
            message = deserialize_message(raw, message_class(connection.msgtype))
            messages.setdefault(connection.topic, []).append((timestamp, message))
    assert connections["/tf_static"].ext.offered_qos_profiles[0].durability.name == "TRANSIENT_LOCAL"
    # ... and our own reader (the player's) sees it too: MCAP metadata names the policies since Jazzy.
    topics = open_bag(bag).topics
    assert topics["/tf_static"].qos[0].transient_local and topics["/planning/route"].qos[0].transient_local
    assert not topics["/sensing/lidar/top/points"].qos[0].reliable
    assert len(messages["/sensing/camera/front/image_raw"]) == 20  # 20 Hz
    assert len(messages["/sensing/lidar/top/points"]) == 10  # 10 Hz
    assert len(messages["/clock"]) == 20
    for topic in (
        "/localization/odometry",
        "/ground_truth/objects/tracked",
        "/ground_truth/objects/predicted",
        "/ground_truth/actions",
        "/ground_truth/camera/front/labels",
        "/planning/route",
        "/tf",
    ):
        assert messages[topic], topic
    # Bag time and header stamps are the simulated clock, strictly increasing.
    stamps = [stamp_to_ns(m.header.stamp) for _, m in messages["/sensing/camera/front/image_raw"]]
    assert stamps[0] == START_NS and np.all(np.diff(stamps) == 50_000_000)
    assert [t for t, _ in messages["/sensing/camera/front/image_raw"]] == stamps
    # The content is exactly what the simulator renders.
    expected = Simulator(load_scenario("pedestrian_crossing")).render()
    np.testing.assert_array_equal(
        image_to_numpy(messages["/sensing/camera/front/image_raw"][0][1]), expected.cameras["front"].rgb
    )
    np.testing.assert_array_equal(
        image_to_numpy(messages["/ground_truth/camera/front/labels"][0][1]), expected.cameras["front"].labels
    )
    cloud = pointcloud2_to_array(messages["/sensing/lidar/top/points"][0][1])
    np.testing.assert_array_equal(cloud["x"], expected.lidar["x"])
    assert set(cloud.dtype.names) == {"x", "y", "z", "intensity", "ring"}
    tf_static = messages["/tf_static"][0][1]
    assert {t.child_frame_id for t in tf_static.transforms} == {"camera_front_optical", "lidar_top"}
    tracked = messages["/ground_truth/objects/tracked"][0][1]
    assert len(tracked.objects) == len(expected.objects)
    actions = messages["/ground_truth/actions"][-1][1]
    assert all(len(d.id) == 32 for d in actions.detections)
