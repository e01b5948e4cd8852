"""``kvision demo``: the whole stack closed loop on the simulator (or on a bag), recorded, with a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvision_driving.commands import CliError


def demo(args: argparse.Namespace) -> int:
    from kvision_driving.data.bag_source import BagError
    from kvision_driving.eval.report import metrics_table
    from kvision_driving.ros.demo import run_demo
    from kvision_driving.ros.process import prepare_ros_process

    prepare_ros_process()
    if args.bag is not None and not args.bag.exists():
        raise CliError(f"bag {args.bag} not found")
    try:
        result = run_demo(args.out, args.scenario, args.duration, args.bag, args.backend)
    except (RuntimeError, FileExistsError, BagError) as error:
        raise CliError(str(error)) from error
    print(metrics_table(result.metrics))
    print(f"report in {args.out}: " + ", ".join(path.name for path in result.report.values()), file=sys.stderr)
    print(
        f"recording: {result.bag} (open it in Foxglove, or kvision replay it); {result.wall_s:.0f} s", file=sys.stderr
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="the whole stack closed loop, recorded, with a video and metrics")
    parser.add_argument("--scenario", default="cyclist_and_signals", help="simulator scenario (kvision sim list)")
    parser.add_argument("--duration", type=float, default=8.0, help="simulated seconds")
    parser.add_argument("--out", type=Path, default=Path("demo_report"), help="report folder (created)")
    parser.add_argument("--bag", type=Path, default=None, help="run perception on this bag instead of the simulator")
    parser.add_argument("--backend", default="onnxruntime", help="inference backend of the networks")
    parser.set_defaults(handler=demo)
