"""``kvision dataset ...``: training sets exported from the simulator."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from kvision_driving.commands import CliError, parse_seeds
from kvision_driving.commands.sim import scenarios_from


def segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.sim.appearance import AppearanceSettings
    from kvision_driving.sim.datasets import export_segmentation

    try:
        appearance = AppearanceSettings.parse(args.appearance)
    except ValueError as error:
        raise CliError(f"--appearance: {error}") from error
    scenarios = scenarios_from(args.scenarios)
    for split, seeds in (("train", args.train_seeds), ("val", args.val_seeds)):
        if seeds:
            count = export_segmentation(
                scenarios, parse_seeds(seeds), args.out, split, args.every, appearance=appearance
            )
            print(f"{split}: {count} frames", file=sys.stderr)
    return 0


def actions(args: argparse.Namespace) -> int:
    from kvision_driving.sim.datasets import export_action_clips

    scenarios = scenarios_from(args.scenarios)
    for split, seeds in (("train", args.train_seeds), ("val", args.val_seeds)):
        if seeds:
            records = export_action_clips(scenarios, parse_seeds(seeds), args.out / split, args.every)
            counts = Counter(record.action for record in records)
            print(
                f"{split}: {len(records)} clips " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                file=sys.stderr,
            )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser("dataset", help="export training data from the simulator")
    kinds = dataset.add_subparsers(dest="dataset", metavar="KIND")
    kinds.required = True
    for name, handler, every, help_text in (
        ("segmentation", segmentation, 10, "Cityscapes layout: leftImg8bit + gtFine labelTrainIds/labelIds"),
        ("actions", actions, 10, "per-actor clips of camera crops (16 frames at 10 Hz, 112x112) with action labels"),
    ):
        parser = kinds.add_parser(name, help=help_text)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--scenarios", default="all", help="name, comma list, or all")
        parser.add_argument("--train-seeds", default="0-3", help="seeds for the train split, e.g. 0-9")
        parser.add_argument("--val-seeds", default="1000", help="held-out seeds for the val split (never in train)")
        parser.add_argument("--every", type=int, default=every, help="simulator steps (20 Hz) between samples")
        if name == "segmentation":
            parser.add_argument(
                "--appearance",
                default="plain",
                help="camera look beyond flat shading, comma list of textures, shadows, randomise (sim/appearance.py)",
            )
        parser.set_defaults(handler=handler)
