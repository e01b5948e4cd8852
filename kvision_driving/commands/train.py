"""``kvision train ...`` and ``kvision export ...``: train networks and export them to ONNX with a model card."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from kvision_driving.commands import CliError


class BatchedConfig(Protocol):
    batch_size: int


Config = TypeVar("Config", bound=BatchedConfig)


def run_training(train: Callable[[Config], dict[str, object]], config: Config, processes: int) -> dict[str, object]:
    """``train(config)`` here, or data-parallel in ``processes`` processes on this machine (rank 0's summary)."""
    if processes < 1:
        raise CliError("--nproc must be 1 or more")
    if processes == 1:
        return train(config)
    from kvision_driving.nets.distributed import spawn

    if config.batch_size % processes:
        raise CliError(f"--batch-size ({config.batch_size}) must be a multiple of --nproc ({processes})")
    return spawn(train, config, processes)


def train_segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.nets.train_segmentation import InitialWeightsError, TrainConfig, train

    if args.height % 32 or args.width % 32:
        raise CliError("--height and --width must be multiples of 32 (the network's stride)")
    if args.mix and len(args.mix) != len(args.data):
        raise CliError(f"--mix gives {len(args.mix)} shares for {len(args.data)} --data folders")
    if args.mix and (min(args.mix) < 0 or sum(args.mix) <= 0):
        raise CliError("--mix shares must be non-negative and not all zero")
    config = TrainConfig(
        data=args.data,
        out=args.out,
        mix=args.mix or [],
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
        max_val_images=args.max_val_images,
        init_weights=args.init,
        precision=args.precision,
        offset_strength=TrainConfig.offset_strength if args.offset_strength is None else args.offset_strength,
    )
    if config.offset_strength < 0:
        raise CliError("--offset-strength must be 0 (no correction) or more")
    if args.init is not None and not args.init.is_file():
        raise CliError(f"--init: no such weights file: {args.init}")
    try:
        summary = run_training(train, config, args.nproc)
    except (DatasetError, InitialWeightsError) as error:
        raise CliError(str(error)) from error
    if not summary:  # one of several processes under torchrun: rank 0 reports
        return 0
    said = ", ".join(f"{name} {result['miou']:.4f}" for name, result in summary["metrics_by_data"].items())
    print(f"val mIoU {said}; outputs in {args.out}", file=sys.stderr)
    return 0


def export_segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.nets.export import export_segmentation as export

    if args.height % 32 or args.width % 32:
        raise CliError("--height and --width must be multiples of 32")
    if not args.checkpoint.exists():
        raise CliError(f"{args.checkpoint} not found (a .safetensors from kvision train segmentation)")
    from kvision_driving.commands import parse_seeds
    from kvision_driving.commands.sim import scenarios_from
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.eval import segmentation as evaluation
    from kvision_driving.inference.model_card import load_card, write_card

    card_path = export(args.checkpoint, args.out, args.metrics, args.height, args.width, args.command)
    seeds = parse_seeds(args.eval_seeds) if args.eval_seeds else []
    if args.eval_data or seeds:
        # Held-out scores of the exported file itself, through the node's own pre- and post-processing.
        try:
            held_out = evaluation.held_out_frames(
                args.eval_data or [],
                args.eval_split,
                scenarios_from(args.scenarios),
                seeds,
                args.eval_every,
                args.eval_seeds,
            )
        except DatasetError as error:
            raise CliError(str(error)) from error
        card = load_card(card_path)
        card.metrics = evaluation.card_metrics(args.out, held_out)
        write_card(card, args.out)
    print(f"wrote {args.out} and {card_path}", file=sys.stderr)
    return 0


def train_actions(args: argparse.Namespace) -> int:
    from kvision_driving.nets.train_actions import ActionTrainConfig, train

    if not 1 <= args.frames <= 16:
        raise CliError("--frames must be 1..16 (the clips hold 16 frames)")
    config = ActionTrainConfig(
        data=args.data,
        out=args.out,
        frames=args.frames,
        batch_size=args.batch_size,
        iterations=args.iterations,
        lr=args.lr,
        eval_every=args.eval_every,
        seed=args.seed,
        threads=args.threads,
    )
    try:
        summary = run_training(train, config, args.nproc)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise CliError(f"cannot read the clips: {error}") from error
    if not summary:  # one of several processes under torchrun: rank 0 reports
        return 0
    metrics = summary["metrics"]
    print(
        f"val accuracy {metrics['accuracy']:.4f}, min class recall {metrics['min_recall']:.3f}; outputs in {args.out}",
        file=sys.stderr,
    )
    return 0


def export_actions(args: argparse.Namespace) -> int:
    from kvision_driving.nets.export import export_actions as export

    if not args.checkpoint.exists():
        raise CliError(f"{args.checkpoint} not found (actions.safetensors from kvision train actions)")
    card = export(args.checkpoint, args.out, args.metrics, args.baseline_metrics, args.command)
    print(f"wrote {args.out} and {card}", file=sys.stderr)
    return 0


def train_gan(args: argparse.Namespace) -> int:
    from kvision_driving.nets.gan import GanConfig
    from kvision_driving.nets.gan import train_gan as run

    if not args.encoder.exists():
        raise CliError(f"{args.encoder} not found: the segmentation weights measure sample quality")
    config = GanConfig(
        data=args.data,
        out=args.out,
        encoder_weights=args.encoder,
        image_size=args.size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        iterations_per_epoch=args.iterations,
        label_smoothing=args.label_smoothing,
        seed=args.seed,
        threads=args.threads,
    )
    try:
        summary = run(config)
    except FileNotFoundError as error:
        raise CliError(str(error)) from error
    print(
        f"Frechet distance by epoch: {[round(v, 2) for v in summary['frechet']]}; outputs in {args.out}",
        file=sys.stderr,
    )
    return 0


def generate(args: argparse.Namespace) -> int:
    import cv2
    import torch
    from safetensors.torch import load_file

    from kvision_driving.nets.gan import NOISE_DIM, Generator, to_uint8

    if not args.weights.exists():
        raise CliError(f"{args.weights} not found (generator.safetensors from kvision train gan)")
    generator = Generator(args.size)
    generator.load_state_dict(load_file(str(args.weights)))
    generator.eval()
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        images = to_uint8(generator(torch.randn(args.n, NOISE_DIM)))
    for index, image in enumerate(images):
        cv2.imwrite(str(args.out / f"generated_{index:05d}.png"), image[:, :, ::-1])
    print(f"wrote {args.n} images to {args.out}", file=sys.stderr)
    return 0


def export_gan(args: argparse.Namespace) -> int:
    from kvision_driving.nets.export import export_generator

    if not args.weights.exists():
        raise CliError(f"{args.weights} not found")
    card = export_generator(args.weights, args.out, args.size, args.metrics, args.command)
    print(f"wrote {args.out} and {card}", file=sys.stderr)
    return 0


def add_nproc_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train data-parallel in this many processes on this machine (torch DDP over loopback; the batch "
        "is divided among them). Across machines, start the same command under torchrun instead",
    )


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train a network")
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True
    parser = tasks.add_parser(
        "segmentation", help="semantic segmentation on labelled folders (simulator export, CamVid, Cityscapes)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="a labelled folder with train/ and val/ splits; repeat to mix datasets (each in its own classes). "
        "The first is the one the model is for: its val split is the headline, its class weights set the "
        "deployed score offset",
    )
    parser.add_argument("--mix", type=float, nargs="+", help="share of each --data folder in a batch (default equal)")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, weights, plots, metrics")
    parser.add_argument("--height", type=int, default=384, help="deployed input height: its pixels fit evaluation")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--iterations", type=int, default=3000, help="0 with --init: evaluate and save it with this data's offset"
    )
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-train-images", type=int, default=0, help="subsample each train split (0: all)")
    parser.add_argument("--max-val-images", type=int, default=0, help="subsample each val split (0: all)")
    parser.add_argument("--init", type=Path, help="fine-tune from these .safetensors weights (e.g. models/)")
    parser.add_argument(
        "--offset-strength",
        type=float,
        help="how much of the class weighting the deployed scores undo: 0 none, 1 all (restores the first "
        "folder's class frequencies); default 0.5",
    )
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: faster on CPUs with native bfloat16"
    )
    add_nproc_argument(parser)
    parser.set_defaults(handler=train_segmentation)

    parser = tasks.add_parser("actions", help="action recognition on clips from kvision dataset actions")
    parser.add_argument("--data", type=Path, required=True, help="folder with train/ and val/ clips")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, weights, plots, metrics")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip; 1 trains the single-frame baseline")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    add_nproc_argument(parser)
    parser.set_defaults(handler=train_actions)

    parser = tasks.add_parser("gan", help="DCGAN on an image folder or a simulator export")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--encoder",
        type=Path,
        default=Path("models/segmentation.safetensors"),
        help="segmentation weights whose encoder gives the Frechet distance",
    )
    parser.add_argument("--size", type=int, choices=(64, 128), default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=100, help="iterations per epoch")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.set_defaults(handler=train_gan)

    parser = commands.add_parser("generate", help="write images from a trained GAN generator")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True, help="generator.safetensors")
    parser.add_argument("--size", type=int, choices=(64, 128), default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=generate)

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
    parser.add_argument(
        "--eval-data", type=Path, action="append", help="labelled folders to score the exported model on (card)"
    )
    parser.add_argument("--eval-split", default="val")
    parser.add_argument("--scenarios", default="all", help="simulator scenarios to score it on")
    parser.add_argument("--eval-seeds", default="2000-2004", help="held-out simulator seeds to score it on ('' none)")
    parser.add_argument("--eval-every", type=int, default=20, help="simulator steps between scored frames")
    parser.set_defaults(handler=export_segmentation)
    parser = tasks.add_parser("actions", help="action weights -> ONNX (opset 17, dynamic batch) + card")
    parser.add_argument("checkpoint", type=Path, help="actions.safetensors")
    parser.add_argument("--out", type=Path, default=Path("models/actions.onnx"))
    parser.add_argument("--metrics", type=Path, default=None, help="metrics.json of the run, for the card")
    parser.add_argument("--baseline-metrics", type=Path, default=None, help="metrics.json of the 1-frame run")
    parser.add_argument("--command", default="", help="the training command, recorded in the card")
    parser.set_defaults(handler=export_actions)
    parser = tasks.add_parser("gan", help="GAN generator weights -> ONNX + card")
    parser.add_argument("weights", type=Path, help="generator.safetensors")
    parser.add_argument("--out", type=Path, default=Path("models/generator.onnx"))
    parser.add_argument("--size", type=int, choices=(64, 128), default=64)
    parser.add_argument("--metrics", type=Path, default=None, help="gan_metrics.json of the run")
    parser.add_argument("--command", default="")
    parser.set_defaults(handler=export_gan)
