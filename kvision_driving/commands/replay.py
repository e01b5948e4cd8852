"""``kvision replay BAG`` and ``kvision record --out BAG TOPICS...``: rosbag2 play and record without ros2 bag."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kvision_driving.commands import CliError


def replay(args: argparse.Namespace) -> int:
    from kvision_driving.ros.process import prepare_ros_process
    from kvision_driving.ros.replay import ReplayError, run_replay

    prepare_ros_process()
    if args.rate <= 0:
        raise CliError("--rate must be positive")
    topics = {topic for topic in args.topics.split(",") if topic} or None
    clock_hz = 0.0 if args.no_clock else args.clock_hz
    try:
        stats = run_replay(
            args.bag, args.rate, args.start_offset, topics, args.loop, clock_hz, args.wait_subscribers, args.delay
        )
    except ReplayError as error:
        raise CliError(str(error)) from error
    summary = {"published": stats.published, "loops": stats.loops, "wall_s": round(stats.wall_s, 3)}
    print(json.dumps(summary), file=sys.stderr)
    return 0


def record(args: argparse.Namespace) -> int:
    from kvision_driving.ros.process import prepare_ros_process
    from kvision_driving.ros.recorder import RecordError, run_record

    prepare_ros_process()
    if args.out.exists():
        raise CliError(f"{args.out} exists: record writes a new bag folder")
    try:
        counts = run_record(args.out, args.topics, args.duration, args.discovery_timeout, args.missing_ok)
    except RecordError as error:
        raise CliError(str(error)) from error
    print(json.dumps({"recorded": counts, "bag": str(args.out)}), file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("replay", help="play a rosbag2 (sqlite3 or MCAP) with its timing, QoS and /clock")
    parser.add_argument("bag", type=Path, help="a rosbag2 folder or an .mcap file")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--start-offset", type=float, default=0.0, help="seconds into the bag to start at")
    parser.add_argument("--topics", default="", help="comma list of topics (default: all)")
    parser.add_argument("--clock-hz", type=float, default=100.0, help="/clock messages per second")
    parser.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    parser.add_argument("--wait-subscribers", type=float, default=2.0, help="seconds to wait for a subscriber first")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between advertising and playing")
    parser.set_defaults(handler=replay)

    parser = commands.add_parser("record", help="record topics into a new MCAP rosbag2")
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (default: until Ctrl-C)")
    parser.add_argument("--discovery-timeout", type=float, default=5.0, help="seconds to find each topic's publisher")
    parser.add_argument("--missing-ok", action="store_true", help="record the topics found, warn about the others")
    parser.set_defaults(handler=record)
