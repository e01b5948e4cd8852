"""Serialized messages out of any rosbag2, for replay: no decoding, the recorded CDR bytes as they are.

A rosbag2 folder is described by its ``metadata.yaml`` (versions 4 to 9, Humble through Kilted); its
sqlite3 files are read with Python's sqlite3, its MCAP files with the mcap library. A bare ``.mcap``
file (or a folder holding only one) works too, its channel metadata giving the offered QoS. Either way:
the topics with type, count and offered QoS, and the messages in time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class BagError(ValueError):
    """A path that is not a readable rosbag2, or a bag without what is asked of it."""


@dataclass(frozen=True)
class OfferedQos:
    reliable: bool = True
    transient_local: bool = False
    depth: int = 0  # 0: the recorder's system default


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str  # pkg/msg/Name
    count: int
    qos: tuple[OfferedQos, ...] = field(default_factory=tuple)


@dataclass
class BagSource:
    path: Path
    topics: dict[str, TopicInfo]
    start_ns: int
    end_ns: int
    storage: str  # sqlite3 | mcap
    files: list[Path]

    def messages(self, topics: set[str] | None = None, start_ns: int | None = None) -> Iterator[tuple[str, int, bytes]]:
        """(topic, recorded time ns, CDR bytes) in time order (file by file: split bags are in order)."""
        wanted = set(self.topics) if topics is None else topics & set(self.topics)
        for file in self.files:
            if self.storage == "sqlite3":
                yield from _sqlite_messages(file, wanted, start_ns)
            else:
                yield from _mcap_messages(file, wanted, start_ns)


def open_bag(path: Path) -> BagSource:
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path} not found")
    if path.is_dir() and (path / "metadata.yaml").is_file():
        return _rosbag2_folder(path)
    mcaps = [path] if path.suffix == ".mcap" else sorted(path.glob("*.mcap")) if path.is_dir() else []
    if len(mcaps) == 1:
        return _mcap_file(mcaps[0])
    raise BagError(f"{path} is not a rosbag2: no metadata.yaml and not a single .mcap file")


def _rosbag2_folder(path: Path) -> BagSource:
    """A rosbag2 folder described by its metadata.yaml (the format is stable from Humble to Kilted)."""
    try:
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        storage = str(info["storage_identifier"])
        files = [path / name for name in info["relative_file_paths"]]
        topics = {}
        for entry in info["topics_with_message_count"]:
            meta = entry["topic_metadata"]
            profiles = meta.get("offered_qos_profiles") or []
            if isinstance(profiles, str):
                profiles = yaml.safe_load(profiles) or []
            topics[meta["name"]] = TopicInfo(
                meta["name"], meta["type"], int(entry["message_count"]), tuple(_qos_of(q) for q in profiles)
            )
        start = int(info["starting_time"]["nanoseconds_since_epoch"])
        end = start + int(info["duration"]["nanoseconds"])
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as error:
        raise BagError(f"{path}/metadata.yaml is not rosbag2 metadata ({error})") from error
    if info.get("compression_mode"):
        raise BagError(f"{path}: compressed bags ({info.get('compression_format')}) are not supported; decompress it")
    if storage not in ("sqlite3", "mcap"):
        raise BagError(f"{path}: storage {storage!r} is not supported (sqlite3 or mcap)")
    missing = [str(file) for file in files if not file.is_file()]
    if missing:
        raise BagError(f"{path}: missing storage files {', '.join(missing)}")
    return BagSource(path, topics, start, end, storage, files)


def _qos_of(profile: dict) -> OfferedQos:
    """One offered QoS profile as rosbag2 writes it: up to Iron as enum numbers (reliability 2 = best effort,
    durability 1 = transient local), since Jazzy as names (``best_effort``, ``transient_local``)."""
    reliability, durability = profile.get("reliability"), profile.get("durability")
    return OfferedQos(
        reliable=reliability not in (2, "best_effort"),
        transient_local=durability in (1, "transient_local"),
        depth=int(profile.get("depth") or 0),
    )


def _mcap_file(path: Path) -> BagSource:
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    try:
        with path.open("rb") as handle:
            summary = make_reader(handle).get_summary()
    except (McapError, OSError) as error:
        raise BagError(f"{path}: not a readable MCAP file ({error})") from error
    if summary is None or summary.statistics is None:
        raise BagError(f"{path}: MCAP file without a summary (unfinished recording?)")
    counts = summary.statistics.channel_message_counts
    topics = {}
    for channel_id, channel in summary.channels.items():
        if channel.message_encoding != "cdr":
            raise BagError(f"{path}: topic {channel.topic} is {channel.message_encoding!r}, not ROS 2 CDR")
        schema = summary.schemas.get(channel.schema_id)
        profiles = yaml.safe_load(channel.metadata.get("offered_qos_profiles", "") or "[]") or []
        topics[channel.topic] = TopicInfo(
            channel.topic, schema.name if schema else "", counts.get(channel_id, 0), tuple(_qos_of(p) for p in profiles)
        )
    stats = summary.statistics
    return BagSource(path, topics, stats.message_start_time, stats.message_end_time, "mcap", [path])


def _mcap_messages(path: Path, topics: set[str], start_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
    from mcap.reader import make_reader

    with path.open("rb") as handle:
        reader = make_reader(handle)
        for _, channel, message in reader.iter_messages(
            topics=sorted(topics), start_time=start_ns, log_time_order=True
        ):
            yield channel.topic, message.log_time, bytes(message.data)


def _sqlite_messages(file: Path, topics: set[str], start_ns: int | None) -> Iterator[tuple[str, int, bytes]]:
    if not topics:
        return
    marks = ",".join("?" * len(topics))
    query = (
        "SELECT topics.name, messages.timestamp, messages.data FROM messages "
        f"JOIN topics ON messages.topic_id = topics.id WHERE topics.name IN ({marks}) AND messages.timestamp >= ? "
        "ORDER BY messages.timestamp"
    )
    connection = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        for topic, timestamp, data in connection.execute(query, (*sorted(topics), start_ns or 0)):
            yield topic, int(timestamp), bytes(data)
    except sqlite3.DatabaseError as error:
        raise BagError(f"{file}: not a rosbag2 sqlite3 database ({error})") from error
    finally:
        connection.close()
