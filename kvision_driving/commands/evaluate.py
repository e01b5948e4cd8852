"""``kvision eval ...``: score the stack against the simulator's ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from kvision_driving.commands import CliError, write_json


def fusion(args: argparse.Namespace) -> int:
    from kvision_driving.eval.fusion import LABEL_TOPICS, evaluate_bag

    if not args.bag.exists():
        raise CliError(f"bag {args.bag} not found")
    if args.labels not in LABEL_TOPICS:
        raise CliError(f"--labels must be one of {', '.join(LABEL_TOPICS)}")
    try:
        result = evaluate_bag(args.bag, args.labels)
    except (KeyError, LookupError) as error:
        raise CliError(
            f"{args.bag} lacks what the evaluation needs ({error}): record it with kvision sim record"
        ) from error
    write_json(result, args.out)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score perception against simulator ground truth (JSON)")
    kinds = evaluate.add_subparsers(dest="evaluation", metavar="WHAT")
    kinds.required = True
    parser = kinds.add_parser("fusion", help="detection precision/recall by class and range, errors, MOTA, ID switches")
    parser.add_argument("bag", type=Path, help="a bag from kvision sim record")
    parser.add_argument("--labels", default="ground-truth", help="ground-truth | segmentation (recorded node output)")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=fusion)
