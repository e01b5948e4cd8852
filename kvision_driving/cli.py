"""The ``kvision`` command. Each group of subcommands lives in kvision_driving/commands/.

Errors the user can fix print one clear line and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kvision_driving import __version__
from kvision_driving.commands import (
    CliError,
    bench,
    dataset,
    demo,
    doctor,
    engine,
    evaluate,
    kitti,
    quantize,
    replay,
    sim,
    train,
)

EXIT_USAGE = 2
GROUPS = (demo, sim, dataset, train, engine, quantize, kitti, evaluate, replay, bench, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvision", description="kvision_driving: perception to planning on ROS 2.")
    parser.add_argument("--version", action="version", version=f"kvision_driving {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for group in GROUPS:
        group.register(commands)
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
