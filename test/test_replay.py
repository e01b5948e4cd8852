"""``kvision replay`` and ``kvision record`` as real processes on bags written by real ROS 2 (sqlite3, MCAP):
types, counts, order, content and relative timing at rate 1 and 2, /clock, topic selection, start offset,
a clear error for message types that are not installed."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from kvision_driving.data.bag_source import open_bag
from kvision_driving.ros.graph import graph_environment

BAGS = SHARED_DATA / "rosbag2"
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def kvision(ros_graph, *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    env = graph_environment(ros_graph.domain_id, ros_graph.log_dir)
    return subprocess.run(
        [sys.executable, "-m", "kvision_driving.cli", *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def timed(probe, msg_type: type, topic: str, qos: QoSProfile) -> list[tuple[float, object]]:
    received: list[tuple[float, object]] = []
    probe.node.create_subscription(msg_type, topic, lambda m: received.append((time.monotonic(), m)), qos)
    return received


@pytest.mark.parametrize("bag", ["talker_sqlite3", "talker_mcap"])
@pytest.mark.parametrize("rate", [1.0, 2.0])
def test_real_bags_replay_with_types_counts_order_content_and_timing(ros_graph, probe, bag: str, rate: float) -> None:
    source = open_bag(BAGS / bag)
    expected = {topic: [] for topic in ("/topic", "/rosout")}
    recorded_ns = []
    for topic, stamp_ns, data in source.messages({"/topic", "/rosout"}):
        expected[topic].append(deserialize_message(data, String if topic == "/topic" else Log))
        if topic == "/topic":
            recorded_ns.append(stamp_ns)
    strings = timed(probe, String, "/topic", RELIABLE)
    logs = timed(probe, Log, "/rosout", LATCHED)
    clock = timed(probe, Clock, "/clock", QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT))
    result = kvision(ros_graph, "replay", str(BAGS / bag), "--rate", str(rate), "--wait-subscribers", "10")
    assert result.returncode == 0, result.stderr
    from_bag = {m.name for m in expected["/rosout"]}
    probe.wait_for(lambda: len(strings) >= 10 and len(logs) >= 10, 10, f"every message ({len(strings)}, {len(logs)})")
    time.sleep(0.2)
    logs = [(t, m) for t, m in logs if m.name in from_bag]  # the player's own node logs to /rosout too
    assert [m.data for _, m in strings] == [m.data for m in expected["/topic"]]  # content and order
    assert [(m.msg, m.stamp.sec, m.stamp.nanosec) for _, m in logs] == [
        (m.msg, m.stamp.sec, m.stamp.nanosec) for m in expected["/rosout"]
    ]
    stamps = np.array([m.clock.sec * 1_000_000_000 + m.clock.nanosec for _, m in clock])
    assert len(stamps) > 50 and np.all(np.diff(stamps) >= 0)
    assert source.start_ns <= stamps[0] and stamps[-1] <= source.end_ns
    # Paced in the bag's time, not dumped: /clock walks through every gap between two messages (no wall-clock
    # bound, which a loaded machine would break).
    between = [np.count_nonzero((stamps > a) & (stamps < b)) for a, b in itertools.pairwise(recorded_ns)]
    assert min(between) >= 5, between


def test_topic_selection_and_start_offset(ros_graph, probe) -> None:
    source = open_bag(BAGS / "talker_sqlite3")
    offset_ns = source.start_ns + 2_000_000_000
    later = [data for _, stamp, data in source.messages({"/topic"}) if stamp >= offset_ns]
    strings = timed(probe, String, "/topic", RELIABLE)
    logs = timed(probe, Log, "/rosout", LATCHED)
    result = kvision(
        ros_graph,
        "replay",
        str(BAGS / "talker_sqlite3"),
        "--topics",
        "/topic",
        "--start-offset",
        "2.0",
        "--wait-subscribers",
        "10",
    )
    assert result.returncode == 0, result.stderr
    probe.wait_for(lambda: len(strings) >= len(later), 10, f"the later messages ({len(strings)} of {len(later)})")
    assert 0 < len(later) < 10
    assert [m.data for _, m in strings] == [deserialize_message(data, String).data for data in later]
    time.sleep(0.3)
    assert logs == []  # not selected


def test_unknown_message_types_and_bad_paths_are_clear_errors(ros_graph, tmp_path: Path) -> None:
    result = kvision(ros_graph, "replay", str(BAGS / "cdr_test_mcap"))
    assert result.returncode == 2 and "unknown message type test_msgs/msg/" in result.stderr
    assert "Traceback" not in result.stderr
    missing = kvision(ros_graph, "replay", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    (tmp_path / "junk.mcap").write_bytes(b"not an mcap file at all")
    junk = kvision(ros_graph, "replay", str(tmp_path / "junk.mcap"))
    assert junk.returncode == 2 and "not a readable MCAP" in junk.stderr
    absent_topic = kvision(ros_graph, "replay", str(BAGS / "talker_mcap"), "--topics", "/nope")
    assert absent_topic.returncode == 2 and "not in the bag: /nope" in absent_topic.stderr


def test_record_what_a_replay_publishes(ros_graph, tmp_path: Path) -> None:
    out = tmp_path / "recorded"
    env = graph_environment(ros_graph.domain_id, ros_graph.log_dir)
    player = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kvision_driving.cli",
            "replay",
            str(BAGS / "talker_mcap"),
            "--loop",
            "--no-clock",
            "--rate",
            "4",
        ],  # the 4.5 s bag lasts ~1.1 s: several loops while 6 s are recorded
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = kvision(ros_graph, "record", "/topic", "--out", str(out), "--duration", "6")
    finally:
        player.terminate()
        player.wait(10)
    assert result.returncode == 0, result.stderr
    recorded = open_bag(out)
    assert recorded.storage == "mcap" and recorded.topics["/topic"].msgtype == "std_msgs/msg/String"
    texts = [deserialize_message(data, String).data for _, _, data in recorded.messages({"/topic"})]
    assert len(texts) >= 5 and all(text.startswith("Hello, world! ") for text in texts)
    # --loop: the bag starts over, so its messages come again and their counter goes back.
    numbers = [int(text.removeprefix("Hello, world! ")) for text in texts]
    assert max(Counter(numbers).values()) >= 2 and any(b < a for a, b in itertools.pairwise(numbers)), numbers
