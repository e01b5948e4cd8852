"""Reading rosbag2 files without ROS: rosbags with a type store that also knows our interface packages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

EXTRA_PACKAGES = ("vision_msgs", "autoware_perception_msgs")


def _package_msg_dir(package: str) -> Path | None:
    """share/<package>/msg of the ROS install (apt or our pip build), else the source tree's interfaces/."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(package)) / "msg")
    except (LookupError, ValueError, OSError, ImportError):  # not installed, or AMENT_PREFIX_PATH unset
        pass
    candidates.append(Path(sys.prefix) / "share" / package / "msg")
    candidates.append(Path(__file__).resolve().parents[2] / "interfaces" / package / "msg")
    return next((path for path in candidates if path.is_dir()), None)


@cache
def typestore() -> Typestore:
    """Kilted's type store plus vision_msgs and autoware_perception_msgs."""
    store = get_typestore(Stores.ROS2_KILTED)
    for package in EXTRA_PACKAGES:
        folder = _package_msg_dir(package)
        if folder is None:
            raise FileNotFoundError(f"cannot find the .msg files of {package}: run scripts/setup.sh")
        types: dict[str, Any] = {}
        for path in sorted(folder.glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
        store.register(types)
    return store


def read_messages(bag: Path, topics: set[str] | None = None) -> Iterator[tuple[str, int, Any]]:
    """(topic, bag timestamp ns, decoded message) in time order; decoded messages have the ROS field names."""
    store = typestore()
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        for connection, timestamp, raw in reader.messages(connections=connections):
            yield connection.topic, timestamp, store.deserialize_cdr(raw, connection.msgtype)
