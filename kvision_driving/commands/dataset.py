"""``kvision dataset ...``: training sets exported from the simulator."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from kvision_driving.commands import CliError, parse_seeds
from kvision_driving.commands.ray_session import add_ray_arguments, ray_map
from kvision_driving.commands.sim import scenarios_from


def segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.sim.appearance import AppearanceSettings
    from kvision_driving.sim.datasets import export_segmentation, export_segmentation_run, start_segmentation_folder

    try:
        appearance = AppearanceSettings.parse(args.appearance)
    except ValueError as error:
        raise CliError(f"--appearance: {error}") from error
    scenarios = scenarios_from(args.scenarios)
    for split, seeds in splits(args):
        if args.ray:
            start_segmentation_folder(args.out)
            calls = [
                (scenario, seed, args.out, split, args.every, appearance) for scenario in scenarios for seed in seeds
            ]
            count = sum(ray_map(export_segmentation_run, calls, args.ray, args.workers, f"segmentation {split}"))
        else:
            count = export_segmentation(scenarios, seeds, args.out, split, args.every, appearance=appearance)
        print(f"{split}: {count} frames", file=sys.stderr)
    return 0


def actions(args: argparse.Namespace) -> int:
    from kvision_driving.sim.datasets import export_action_clips, export_action_run, write_clip_index

    scenarios = scenarios_from(args.scenarios)
    for split, seeds in splits(args):
        folder = args.out / split
        if args.ray:
            calls = [(scenario, seed, folder, args.every) for scenario in scenarios for seed in seeds]
            shards = ray_map(export_action_run, calls, args.ray, args.workers, f"action clips {split}")
            records = [record for shard in shards for record in shard]  # in the runs' order, as exported alone
            write_clip_index(folder, records)
        else:
            records = export_action_clips(scenarios, seeds, folder, args.every)
        counts = Counter(record.action for record in records)
        print(
            f"{split}: {len(records)} clips " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
            file=sys.stderr,
        )
    return 0


def splits(args: argparse.Namespace) -> list[tuple[str, list[int]]]:
    """(split, its seeds) for the splits given seeds; every scenario runs with each (scenario-major order)."""
    return [
        (split, parse_seeds(seeds)) for split, seeds in (("train", args.train_seeds), ("val", args.val_seeds)) if seeds
    ]


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
        add_ray_arguments(parser, "the scenario runs (the same files as without)")
        parser.set_defaults(handler=handler)
