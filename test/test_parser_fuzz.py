"""Property-based fuzzing of the parsers that read files people hand us: rosbag2 metadata and storage,
model cards, scenario YAML, KITTI calibration. Whatever the bytes, the answer is the parser's own clear error, never a
crash with another exception type."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvision_driving.data.bag_source import BagError, open_bag
from kvision_driving.data.kitti import KittiError, read_calibration
from kvision_driving.inference.model_card import ModelIntegrityError, load_card
from kvision_driving.sim.scenario import ScenarioError, parse_scenario

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


def metadata_variants() -> st.SearchStrategy:
    """Real-looking rosbag2 metadata with fields removed, retyped or replaced at random."""
    base = {
        "version": 5,
        "storage_identifier": "sqlite3",
        "relative_file_paths": ["bag.db3"],
        "duration": {"nanoseconds": 1000},
        "starting_time": {"nanoseconds_since_epoch": 5},
        "message_count": 1,
        "topics_with_message_count": [
            {
                "topic_metadata": {"name": "/a", "type": "std_msgs/msg/String", "offered_qos_profiles": ""},
                "message_count": 1,
            }
        ],
        "compression_format": "",
        "compression_mode": "",
    }
    return st.fixed_dictionaries({}, optional={key: st.just(value) | yaml_values for key, value in base.items()})


@FUZZ
@given(info=metadata_variants(), storage=st.binary(max_size=64))
def test_bag_metadata_fuzz(tmp_path_factory, info: dict, storage: bytes) -> None:
    folder = tmp_path_factory.mktemp("bag")
    (folder / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}))
    (folder / "bag.db3").write_bytes(storage)
    with contextlib.suppress(BagError):
        list(open_bag(folder).messages())


@FUZZ
@given(data=st.binary(max_size=256))
def test_mcap_fuzz(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("mcap") / "x.mcap"
    path.write_bytes(b"\x89MCAP0\r\n" + data)
    with contextlib.suppress(BagError):
        list(open_bag(path).messages())


@FUZZ
@given(card=yaml_values)
def test_model_card_fuzz(tmp_path_factory, card: object) -> None:
    path = tmp_path_factory.mktemp("card") / "m.card.json"
    path.write_text(json.dumps(card, default=str))
    with contextlib.suppress(ModelIntegrityError):
        load_card(path)


@FUZZ
@given(scenario=yaml_values)
def test_scenario_fuzz(scenario: object) -> None:
    with contextlib.suppress(ScenarioError):
        parse_scenario(scenario)


KITTI_KEYS = ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo")
numbers = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=14)


@FUZZ
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(KITTI_KEYS) | st.text(max_size=8), numbers | st.text(max_size=20)), max_size=8
    ),
    garbage=st.binary(max_size=40),
)
def test_kitti_calibration_fuzz(tmp_path_factory, lines: list, garbage: bytes) -> None:
    """Keys known or not, any count of numbers (NaN and inf too) or text, trailing bytes: a calibration or
    KittiError, and a calibration that loads projects finitely."""
    text = "\n".join(
        f"{key}: {' '.join(str(v) for v in values) if isinstance(values, list) else values}" for key, values in lines
    )
    path = tmp_path_factory.mktemp("kitti") / "calib.txt"
    path.write_bytes(text.encode() + b"\n" + garbage)
    with contextlib.suppress(KittiError):
        calibration = read_calibration(path)
        assert np.all(np.isfinite(calibration.velodyne_to_camera2()))


def test_a_real_bag_still_opens() -> None:
    bag = open_bag(Path(__file__).resolve().parents[2] / "shared" / "data" / "rosbag2" / "talker_sqlite3")
    assert bag.topics["/topic"].count == 10


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4000), header=st.sampled_from([b"", b"\x00\x01\x00\x00", b"\x00\x00\x00\x00"]))
def test_raw_predicted_objects_fuzz(data: bytes, header: bytes) -> None:
    """planning_node decodes its objects from raw bytes: garbage is a ConversionError (a counted bad input)."""
    from autoware_perception_msgs.msg import PredictedObjects

    from kvision_driving.ros.convert import ConversionError, decode_raw
    from kvision_driving.ros.planning_messages import road_users

    with contextlib.suppress(ConversionError):
        road_users(decode_raw(header + data, PredictedObjects), {})


def test_raw_decoding_reads_what_rclpy_wrote() -> None:
    import numpy as np
    from autoware_perception_msgs.msg import PredictedObject, PredictedObjects, PredictedPath
    from rclpy.serialization import serialize_message

    from kvision_driving.ros.convert import decode_raw, make_header
    from kvision_driving.ros.object_messages import pose_of
    from kvision_driving.ros.planning_messages import road_users

    message = PredictedObjects(header=make_header(1_500_000_000, "map"))
    obj = PredictedObject()
    obj.object_id.uuid = list(range(16))
    obj.shape.dimensions.x, obj.shape.dimensions.y = 4.5, 1.8
    obj.kinematics.initial_pose_with_covariance.pose = pose_of(3.0, 4.0, 0.5, 0.3)
    path = PredictedPath(confidence=1.0)
    path.time_step.nanosec = 200_000_000
    path.path = [pose_of(3.0 + k, 4.0, 0.5, 0.3) for k in range(16)]
    obj.kinematics.predicted_paths = [path]
    message.objects = [obj]
    (direct,) = road_users(message, {})
    (raw,) = road_users(decode_raw(serialize_message(message), PredictedObjects), {})
    assert raw.object_id == direct.object_id == bytes(range(16)).hex() and raw.yaw == direct.yaw
    assert np.array_equal(raw.paths[0].xy, direct.paths[0].xy) and raw.paths[0].time_step == 0.2
