"""``kvision replay``: play a rosbag2 into the graph like ``ros2 bag play --clock``, on machines without it.

Every topic is published with its recorded type (the installed message package decides; an unknown
type is a clear error naming it) and the QoS its recorder was offered (reliable only if every
offer was, transient local only if every offer was), the recorded CDR bytes as they are. Messages
keep their recorded spacing divided by ``rate``; /clock carries the bag's time, so nodes with
``use_sim_time`` live in the recording's time. ``loop`` starts over at the end (time then jumps
back, which nodes are built to survive).
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from kvision_driving.data.bag_source import BagError, BagSource, OfferedQos, open_bag
from kvision_driving.ros.convert import ns_to_stamp


class ReplayError(RuntimeError):
    """A bag that cannot be replayed here, with the reason."""


def message_class(msgtype: str) -> type:
    """The rclpy class of ``pkg/msg/Name`` from the installed interface package."""
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ReplayError(f"{msgtype!r} is not a message type name (pkg/msg/Name)")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[2])
    except (AttributeError, ImportError) as error:
        raise ReplayError(
            f"unknown message type {msgtype}: its package is not installed here (leave the topic out with --topics)"
        ) from error


def replay_qos(offers: Iterable[OfferedQos]) -> QoSProfile:
    """The QoS to publish with so that every subscriber the recorded publishers served is served again."""
    offers = list(offers)
    reliable = all(offer.reliable for offer in offers) if offers else True
    latched = all(offer.transient_local for offer in offers) if offers else False
    depth = max([offer.depth for offer in offers] + [10])
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


@dataclass
class ReplayStats:
    published: dict[str, int]
    loops: int
    wall_s: float


def prefetched(messages: Iterator[tuple[str, int, bytes]], ahead: int = 2000) -> Iterator[tuple[str, int, bytes]]:
    """The same messages, read by a thread up to ``ahead`` messages early: decompressing a chunk or
    seeking in the file must never delay a message that is due."""
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    done = object()
    failure: list[BaseException] = []

    def read() -> None:
        try:
            for item in messages:
                buffer.put(item)
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread
            failure.append(error)
        finally:
            buffer.put(done)

    threading.Thread(target=read, name="bag-reader", daemon=True).start()
    while (item := buffer.get()) is not done:
        yield item
    if failure:
        raise ReplayError(f"reading the bag failed: {failure[0]}") from failure[0]


class BagPlayer(Node):
    def __init__(
        self,
        bag: Path,
        rate: float = 1.0,
        start_offset_s: float = 0.0,
        topics: set[str] | None = None,
        loop: bool = False,
        clock_hz: float = 100.0,
    ) -> None:
        super().__init__("kvision_replay")
        if rate <= 0:
            raise ReplayError("--rate must be positive")
        try:
            self.source: BagSource = open_bag(bag)
        except BagError as error:
            raise ReplayError(str(error)) from error
        unknown = sorted((topics or set()) - set(self.source.topics))
        if unknown:
            raise ReplayError(f"not in the bag: {', '.join(unknown)}; it has {', '.join(sorted(self.source.topics))}")
        self.topics = set(self.source.topics) if not topics else set(topics)
        self.rate, self.loop, self.clock_hz = rate, loop, clock_hz
        self.start_ns = self.source.start_ns + round(start_offset_s * 1e9)
        self.publishers_by_topic = {}
        for name in sorted(self.topics):
            info = self.source.topics[name]
            if name == "/clock" and clock_hz > 0:
                continue  # we publish the clock ourselves, from the bag's time
            self.publishers_by_topic[name] = self.create_publisher(
                message_class(info.msgtype), name, replay_qos(info.qos)
            )
        self.clock_pub = (
            self.create_publisher(Clock, "/clock", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
            if clock_hz > 0
            else None
        )

    def wait_for_subscribers(self, timeout_s: float, settle_s: float = 2.0) -> None:
        """Before the first message, wait (up to ``timeout_s``) for a subscriber; then give the others the
        graph knows of up to ``settle_s`` to match too (a participant that left recently can linger in
        discovery, so this is bounded), so nothing recorded is lost to discovery."""
        deadline = time.monotonic() + timeout_s
        first_match = None
        while time.monotonic() < deadline:
            matched = {topic: pub.get_subscription_count() for topic, pub in self.publishers_by_topic.items()}
            if any(matched.values()):
                first_match = first_match or time.monotonic()
                everyone = all(matched[topic] >= self.count_subscribers(topic) for topic in matched)
                if everyone or time.monotonic() - first_match > settle_s:
                    time.sleep(1.0)  # matching completes on the subscriber's side a moment after ours
                    return
            time.sleep(0.05)

    def wait_for_delivery(self, timeout_s: float = 5.0) -> None:
        """Let reliable subscribers acknowledge the last messages: a publisher destroyed right after its
        last ``publish`` takes unacknowledged messages with it (a loaded subscriber lost the final one)."""
        deadline = time.monotonic() + timeout_s
        for publisher in self.publishers_by_topic.values():
            remaining = max(0.0, deadline - time.monotonic())
            publisher.wait_for_all_acked(Duration(nanoseconds=round(remaining * 1e9)))

    def play(self, should_stop: object = lambda: False) -> ReplayStats:
        published = dict.fromkeys(self.publishers_by_topic, 0)
        loops = 0
        started = time.monotonic()
        while True:
            wall0, bag0 = time.monotonic(), self.start_ns
            next_clock = wall0
            for topic, stamp_ns, data in prefetched(self.source.messages(set(self.publishers_by_topic), self.start_ns)):
                due = wall0 + (stamp_ns - bag0) / 1e9 / self.rate
                while True:  # sleep until due, publishing /clock on the way
                    now = time.monotonic()
                    if self.clock_pub is not None and now >= next_clock:
                        bag_now = bag0 + round((now - wall0) * self.rate * 1e9)
                        self.clock_pub.publish(Clock(clock=ns_to_stamp(min(bag_now, stamp_ns))))
                        next_clock += 1.0 / self.clock_hz
                    if now >= due or should_stop():
                        break
                    wake = min(due, next_clock) if self.clock_pub is not None else due
                    time.sleep(max(0.0, min(wake - now, 0.01)))
                if should_stop():
                    return ReplayStats(published, loops, time.monotonic() - started)
                self.publishers_by_topic[topic].publish(data)
                published[topic] += 1
            loops += 1
            if not self.loop or should_stop():
                return ReplayStats(published, loops, time.monotonic() - started)


def run_replay(
    bag: Path,
    rate: float,
    start_offset_s: float,
    topics: set[str] | None,
    loop: bool,
    clock_hz: float,
    wait_subscribers_s: float,
    delay_s: float = 0.0,
) -> ReplayStats:
    """Play ``bag`` once (or on a loop until Ctrl-C) in this process; ReplayError for what cannot be played."""
    import rclpy

    rclpy.init()
    player = None
    try:
        player = BagPlayer(bag, rate, start_offset_s, topics, loop, clock_hz)
        time.sleep(delay_s)  # recorders learn a topic's type from its publisher: give them time to subscribe
        player.wait_for_subscribers(wait_subscribers_s)
        stats = player.play()
        player.wait_for_delivery()
        return stats
    finally:
        if player is not None:
            player.destroy_node()
        rclpy.try_shutdown()
