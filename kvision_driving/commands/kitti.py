"""``kvision import-kitti``: convert KITTI object or raw folders into a rosbag2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvision_driving.commands import CliError


def import_kitti(args: argparse.Namespace) -> int:
    from kvision_driving.data.kitti import KittiError
    from kvision_driving.ros.kitti_import import import_kitti as run_import

    if args.out.exists():
        raise CliError(f"{args.out} already exists: choose a new folder for the bag")
    try:
        counts = run_import(args.directory, args.out, args.storage)
    except KittiError as error:
        raise CliError(str(error)) from error
    print(
        f"wrote {args.out}: " + ", ".join(f"{topic} {count}" for topic, count in sorted(counts.items())),
        file=sys.stderr,
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import-kitti", help="KITTI object/raw folders -> rosbag2 (image, camera info, points, tf)"
    )
    parser.add_argument(
        "directory", type=Path, help="KITTI object layout (calib/ image_2/ velodyne/ label_2/) or frame folders"
    )
    parser.add_argument("--out", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.set_defaults(handler=import_kitti)
