"""Reading rosbag2 files without ROS: our bag source (rosbag2 folders, bare MCAP files) decoded by rosbags'
type store, which also knows our interface packages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from kvision_driving.data.bag_source import BagError, open_bag

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


def read_messages(bag: Path, topics: set[str] | None = None, require: bool = False) -> Iterator[tuple[str, int, Any]]:
    """(topic, recorded time ns, decoded message) in time order; decoded messages have the ROS field names.
    With ``require``, a bag without every one of ``topics`` is refused (BagError naming them) before any is
    read: an evaluation of a bag that lacks its ground truth would score nothing and look like a result."""
    source = open_bag(bag)
    if require and topics:
        missing = sorted(set(topics) - set(source.topics))
        if missing:
            raise BagError(f"{bag} lacks {', '.join(missing)}")
    store = typestore()
    for topic, timestamp, raw in source.messages(topics):
        yield topic, timestamp, store.deserialize_cdr(raw, source.topics[topic].msgtype)
