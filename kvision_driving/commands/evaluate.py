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
        result = evaluate_bag(args.bag, args.labels, png=args.png)
    except (KeyError, LookupError) as error:
        raise CliError(
            f"{args.bag} lacks what the evaluation needs ({error}): record it with kvision sim record"
        ) from error
    write_json(result, args.out)
    return 0


def segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.commands import parse_seeds
    from kvision_driving.commands.sim import scenarios_from
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.eval import segmentation as evaluation
    from kvision_driving.inference.backends import BackendUnavailableError
    from kvision_driving.inference.model_card import ModelIntegrityError

    try:
        if args.data is not None:
            samples = evaluation.folder_samples(args.data, args.split)
        else:
            samples = evaluation.simulator_samples(scenarios_from(args.scenarios), parse_seeds(args.seeds), args.every)
        result = evaluation.evaluate(args.model, samples, args.backend, args.grid)
    except (DatasetError, ModelIntegrityError, BackendUnavailableError) as error:
        raise CliError(str(error)) from error
    write_json(result, args.out)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score perception against simulator ground truth (JSON)")
    kinds = evaluate.add_subparsers(dest="evaluation", metavar="WHAT")
    kinds.required = True
    parser = kinds.add_parser("fusion", help="detection precision/recall by class and range, errors, MOTA, ID switches")
    parser.add_argument("bag", type=Path, help="a bag from kvision sim record")
    parser.add_argument("--labels", default="ground-truth", help="ground-truth | segmentation (recorded node output)")
    parser.add_argument("--png", type=Path, default=None, help="bird's-eye view of the last scored sweep")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=fusion)

    parser = kinds.add_parser("segmentation", help="per-class IoU of a model on held-out simulator seeds or a folder")
    parser.add_argument("--model", type=Path, default=Path("models/segmentation.onnx"))
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--data", type=Path, default=None, help="a Cityscapes-layout folder (else: the simulator)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--seeds", default="2000", help="simulator seeds never used in training")
    parser.add_argument("--every", type=int, default=20, help="simulator steps between frames")
    parser.add_argument("--grid", type=Path, default=None, help="write a camera | truth | prediction PNG")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=segmentation)
