"""interfaces/ builds types that are wire-compatible with the official packages: same RIHS01 hashes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_INTERFACES

REFERENCE = json.loads((SHARED_INTERFACES / "type_hashes.json").read_text())
OURS = ("vision_msgs", "autoware_perception_msgs", "tf2_msgs")
OUR_TYPES = sorted(name for name in REFERENCE if name.split("/")[0] in OURS)


def message_class(full_name: str) -> type:
    package, _, name = full_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def test_every_reference_type_of_our_packages_is_defined() -> None:
    defined = {f"{p.parent.parent.name}/msg/{p.stem}" for p in (REPO / "interfaces").glob("*/msg/*.msg")}
    assert set(OUR_TYPES) == defined
    assert len(OUR_TYPES) == 37
    assert (REPO / "interfaces" / "COLCON_IGNORE").exists()


@pytest.mark.parametrize("full_name", OUR_TYPES)
def test_generated_type_hash_matches_reference(full_name: str) -> None:
    package, _, name = full_name.split("/")
    description = Path(sys.prefix) / "share" / package / "msg" / f"{name}.json"
    hashes = {entry["type_name"]: entry["hash_string"] for entry in json.loads(description.read_text())["type_hashes"]}
    assert hashes[full_name] == REFERENCE[full_name]["hash"]


@pytest.mark.parametrize("full_name", OUR_TYPES)
def test_fields_and_constants_match_reference(full_name: str) -> None:
    cls = message_class(full_name)
    reference = REFERENCE[full_name]
    assert list(cls.get_fields_and_field_types()) == [field[0] for field in reference["fields"]]
    for name, _type, value in reference["constants"]:
        constant = getattr(cls, name)
        assert constant == pytest.approx(value) if isinstance(value, float) else constant == value


def test_hash_seen_by_rclpy_on_the_wire_matches_reference() -> None:
    """The hash rclpy announces in discovery for a publisher of each type (what peers compare)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node

    from kvision_driving.ros.graph import DomainLease

    lease = DomainLease()
    context = Context()
    rclpy.init(context=context, domain_id=lease.domain_id)
    try:
        node = Node("hash_probe", context=context)
        seen = {}
        for index, full_name in enumerate(OUR_TYPES):
            topic = f"/hash_probe/t{index}"
            node.create_publisher(message_class(full_name), topic, 1)
            (info,) = node.get_publishers_info_by_topic(topic)
            seen[full_name] = str(info.topic_type_hash)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        lease.release()
    assert seen == {name: REFERENCE[name]["hash"] for name in OUR_TYPES}


def test_wheel_types_we_reference_match_too() -> None:
    """Nested wheel types (Header, Pose, UUID...) must be the same versions the reference used."""
    for full_name, entry in REFERENCE.items():
        if full_name.split("/")[0] in OURS:
            continue
        cls = message_class(full_name)
        assert list(cls.get_fields_and_field_types()) == [field[0] for field in entry["fields"]], full_name
