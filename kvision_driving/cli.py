"""The ``kvision`` command: benchmarks, checks and (as the stack grows) the simulator, training and demo.

Each subcommand imports its heavy modules only when it runs, so ``kvision --help`` stays fast.
Errors the user can fix print one clear line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kvision_driving import __version__

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed as ``error: ...`` with exit code 2."""


def write_json(result: dict, out: Path | None) -> None:
    text = json.dumps(result, indent=2, allow_nan=True)
    if out is None:
        print(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"wrote {out}", file=sys.stderr)


# --- bench ----------------------------------------------------------------------------------------


def cmd_bench_transport(args: argparse.Namespace) -> int:
    from kvision_driving.bench import transport
    from kvision_driving.ros.dds import apply_default_dds_profile

    apply_default_dds_profile()
    kinds = tuple(args.kinds.split(",")) if args.kinds else transport.PAYLOAD_KINDS
    unknown = [kind for kind in kinds if kind not in transport.PAYLOAD_KINDS]
    if unknown:
        raise CliError(f"unknown payload kind(s): {', '.join(unknown)}")
    result = transport.run(rate_hz=args.rate, count=args.count, kinds=kinds)
    write_json(result, args.out)
    print(transport.summary_table(result), file=sys.stderr)
    return 0


# --- doctor ---------------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that the install is complete: ROS wheels, interfaces, DDS profile, ML libraries."""
    from kvision_driving.ros.dds import apply_default_dds_profile, default_profile_path

    checks: list[tuple[str, Callable[[], str]]] = []

    def module(name: str) -> Callable[[], str]:
        def check() -> str:
            imported = __import__(name, fromlist=["__name__"])
            return getattr(imported, "__version__", "ok")

        return check

    for name in (
        "rclpy",
        "sensor_msgs.msg",
        "vision_msgs.msg",
        "autoware_perception_msgs.msg",
        "tf2_msgs.msg",
        "numpy",
        "cv2",
        "scipy",
        "torch",
        "onnxruntime",
        "open3d",
        "rosbags",
    ):
        checks.append((name, module(name)))
    checks.append(("dds profile", lambda: apply_default_dds_profile(dict()) or "user configured"))
    checks.append(("dds profile file", lambda: str(default_profile_path())))
    failed = 0
    for name, check in checks:
        try:
            print(f"ok    {name:32s} {check()}")
        except Exception as error:
            failed += 1
            print(f"FAIL  {name:32s} {type(error).__name__}: {error}")
    return 1 if failed else 0


# --- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvision", description="kvision_driving: perception to planning on ROS 2.")
    parser.add_argument("--version", action="version", version=f"kvision_driving {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    bench = commands.add_parser("bench", help="benchmarks (JSON out)")
    benches = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    benches.required = True
    transport = benches.add_parser("transport", help="Image and PointCloud2 between two processes: latency, loss, CPU")
    transport.add_argument("--rate", type=float, default=30.0, help="messages per second (default 30)")
    transport.add_argument("--count", type=int, default=300, help="messages per run (default 300)")
    transport.add_argument("--kinds", default="", help="comma list of image,cloud (default both)")
    transport.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    transport.set_defaults(handler=cmd_bench_transport)

    doctor = commands.add_parser("doctor", help="check the installation")
    doctor.set_defaults(handler=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
