"""ros/ infrastructure that needs no graph: DDS defaults, keep-latest slot, parameter specs, domain leases."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ElementTree

import pytest

from kvision_driving.ros.dds import apply_default_dds_profile, default_profile_path
from kvision_driving.ros.graph import DomainLease, graph_environment
from kvision_driving.ros.inputs import LatestSlot
from kvision_driving.ros.params import ParamSpec


def test_profile_applied_by_default() -> None:
    env: dict[str, str] = {}
    assert apply_default_dds_profile(env) == str(default_profile_path())
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(default_profile_path())


@pytest.mark.parametrize(
    "user_setting",
    [
        {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/vehicle/dds.xml"},
        {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"},
        {"ROS_STATIC_PEERS": "192.0.2.7"},
        {"CYCLONEDDS_URI": "file:///etc/cyclone.xml"},
        {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
        {"KVISION_DDS_PROFILE": "system"},
    ],
)
def test_user_dds_configuration_wins(user_setting: dict[str, str]) -> None:
    env = dict(user_setting)
    assert apply_default_dds_profile(env) is None
    assert env == user_setting


def test_explicit_profile_choice(tmp_path) -> None:
    custom = tmp_path / "mine.xml"
    custom.write_text("<dds/>")
    env = {"KVISION_DDS_PROFILE": str(custom), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    assert apply_default_dds_profile(env) == str(custom)
    with pytest.raises(FileNotFoundError, match="KVISION_DDS_PROFILE"):
        apply_default_dds_profile({"KVISION_DDS_PROFILE": str(tmp_path / "missing.xml")})


def test_profile_is_loopback_only_with_large_shared_memory() -> None:
    namespace = {"dds": "http://www.eprosima.com"}
    root = ElementTree.parse(default_profile_path()).getroot()
    segment = root.find(".//dds:transport_descriptor[dds:type='SHM']/dds:segment_size", namespace)
    assert int(segment.text) >= 32 * 1024 * 1024
    interfaces = [i.get("name") for i in root.findall(".//dds:allowlist/dds:interface", namespace)]
    assert interfaces == ["lo"]
    peers = [a.text for a in root.findall(".//dds:initialPeersList//dds:address", namespace)]
    assert peers == ["127.0.0.1"]
    assert root.find(".//dds:useBuiltinTransports", namespace).text == "false"


def test_graph_environment_strips_user_dds_settings(tmp_path) -> None:
    env = graph_environment(42, tmp_path, {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "PATH": "/bin"})
    assert env["ROS_DOMAIN_ID"] == "42" and env["ROS_LOG_DIR"] == str(tmp_path)
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in env
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(default_profile_path())


def test_domain_leases_are_exclusive() -> None:
    first = DomainLease(preferred=0)
    second = DomainLease(preferred=0)
    try:
        assert first.domain_id != second.domain_id
    finally:
        first.release()
        second.release()
    third = DomainLease(preferred=0)
    assert third.domain_id == first.domain_id  # released ids are reusable
    third.release()


def test_latest_slot_keeps_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.take(0) == 3
    assert slot.take(0.01) is None
    assert slot.dropped == 2
    slot.put(4)
    assert slot.clear() == 1 and slot.dropped == 3


def test_latest_slot_wakes_a_waiting_consumer() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list[str | None] = []
    consumer = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    consumer.start()
    slot.put("frame")
    consumer.join(2.0)
    assert got == ["frame"]
    slot.close()
    assert slot.take(5.0) is None  # closed: returns at once


def test_param_spec_checks() -> None:
    rate = ParamSpec("rate_hz", 10.0, "rate", 0.1, 100.0)
    assert rate.check(5.0) is None
    assert "below" in rate.check(0.0)
    assert "above" in rate.check(1000.0)
    assert "NaN" in rate.check(float("nan"))
    backend = ParamSpec("backend", "auto", "backend", choices=("auto", "onnxruntime"))
    assert "not one of" in backend.check("cuda")
    flag = ParamSpec("enabled", True, "flag")
    assert "expected bool" in flag.check(1)
    assert rate.descriptor().floating_point_range[0].to_value == 100.0


def test_health_keeps_a_bounded_number_of_reasons_and_loses_no_count() -> None:
    from kvision_driving.ros.diagnostics import MAX_REASONS, OTHER_REASONS, NodeHealth

    health = NodeHealth()
    for index in range(1000):
        health.on_bad_input(f"image: data has {index} bytes")  # every message says something different
    health.on_bad_input("image: data has 0 bytes")
    snapshot = health.snapshot(0.0)
    assert snapshot["bad_inputs"] == 1001
    assert len(snapshot["bad_input_reasons"]) == MAX_REASONS
    assert snapshot["bad_input_reasons"][OTHER_REASONS] == 1000 - (MAX_REASONS - 1)
    assert snapshot["bad_input_reasons"]["image: data has 0 bytes"] == 2


def test_viewer_outputs_are_built_only_while_someone_subscribes(probe) -> None:
    from visualization_msgs.msg import MarkerArray

    from kvision_driving.ros.node import KvisionNode

    node = KvisionNode("viewer_outputs", (), context=probe.context)
    try:
        publisher = node.create_publisher(MarkerArray, "/viewer/markers", 10)
        assert not node.listened(publisher)  # nodes skip building markers and overlays now
        probe.subscribe(MarkerArray, "/viewer/markers", 10)
        probe.wait_for(lambda: node.listened(publisher), 10, "RViz's subscription to match")
    finally:
        node.destroy_node()
