"""``kvision train ...`` and ``kvision export ...``: train networks and export them to ONNX with a model card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvision_driving.commands import CliError


def train_segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.nets.train_segmentation import TrainConfig, train

    if args.height % 128 or args.width % 128:
        raise CliError("--height and --width must be multiples of 128 (the network pools at 1/32 into 4x4 bins)")
    config = TrainConfig(
        data=args.data,
        out=args.out,
        input_height=args.height,
        input_width=args.width,
        crop=args.crop,
        batch_size=args.batch_size,
        iterations=args.iterations,
        lr=args.lr,
        eval_every=args.eval_every,
        seed=args.seed,
        threads=args.threads,
        max_train_images=args.max_train_images,
    )
    try:
        summary = train(config)
    except DatasetError as error:
        raise CliError(str(error)) from error
    print(f"val mIoU {summary['metrics']['miou']:.4f}; outputs in {args.out}", file=sys.stderr)
    return 0


def export_segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.nets.export import export_segmentation as export

    if args.height % 128 or args.width % 128:
        raise CliError("--height and --width must be multiples of 128")
    if not args.checkpoint.exists():
        raise CliError(f"{args.checkpoint} not found (a .safetensors from kvision train segmentation)")
    card = export(args.checkpoint, args.out, args.metrics, args.height, args.width, args.command)
    print(f"wrote {args.out} and {card}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a network")
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True
    parser = tasks.add_parser("segmentation", help="semantic segmentation on a Cityscapes-layout folder")
    parser.add_argument("--data", type=Path, required=True, help="folder with leftImg8bit/ and gtFine/")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, weights, plots, metrics")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--crop", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-train-images", type=int, default=0, help="subsample the train split (0: all)")
    parser.set_defaults(handler=train_segmentation)

    export = commands.add_parser("export", help="export a trained network to ONNX with its model card")
    tasks = export.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True
    parser = tasks.add_parser("segmentation", help="segmentation weights -> ONNX (opset 17, dynamic batch) + card")
    parser.add_argument("checkpoint", type=Path, help="segmentation.safetensors")
    parser.add_argument("--out", type=Path, default=Path("models/segmentation.onnx"))
    parser.add_argument("--metrics", type=Path, default=None, help="metrics.json of the run, for the card")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--command", default="", help="the training command, recorded in the card")
    parser.set_defaults(handler=export_segmentation)
