"""``kvision quantize``: a segmentation model's INT8 ONNX for the CPU, calibrated and measured in one go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kvision_driving.commands import CliError, parse_seeds, write_json


def quantize(args: argparse.Namespace) -> int:
    from kvision_driving.commands.sim import scenarios_from
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.eval import segmentation as evaluation
    from kvision_driving.inference.model_card import ModelIntegrityError, write_card
    from kvision_driving.nets.quantize import quantize_model

    if args.out.exists() and not args.force:
        raise CliError(f"{args.out} exists (--force to replace it)")
    try:
        calibration: list = []
        sources = []
        for folder in args.data or []:
            calibration += [rgb for rgb, _ in evaluation.folder_frames(folder, args.split).frames][:: args.data_every]
            sources.append(f"--data {folder}")
        if args.seeds:
            simulated = evaluation.simulator_frames(scenarios_from(args.scenarios), parse_seeds(args.seeds), args.every)
            calibration += [rgb for rgb, _ in simulated.frames]
            sources.append(f"--scenarios {args.scenarios} --seeds {args.seeds} --every {args.every}")
        if args.data:
            sources.append(f"--split {args.split} --data-every {args.data_every}")
        print(f"calibrating on {len(calibration)} frames", file=sys.stderr)
        command = f"kvision quantize {args.model} --out {args.out} {' '.join(sources)}"
        _, card = quantize_model(args.model, calibration, args.out, command)
        report: dict[str, Any] = {"model": str(args.out), "calibration_frames": len(calibration)}
        # The same held-out frames through both models: the INT8 model's accuracy and what it costs.
        held_out = evaluation.held_out_frames(
            args.eval_data or [],
            args.eval_split,
            scenarios_from(args.scenarios),
            parse_seeds(args.eval_seeds) if args.eval_seeds else [],
            args.eval_every,
            args.eval_seeds,
        )
        card.metrics = evaluation.card_metrics(args.out, held_out, reference=args.model)
        if held_out:
            write_card(card, args.out)
            report["evaluation"] = card.metrics
    except (DatasetError, ModelIntegrityError, ValueError) as error:
        raise CliError(str(error)) from error
    write_json(report, args.report)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("quantize", help="INT8 ONNX of a segmentation model for the CPU, with its card")
    parser.add_argument("model", type=Path, help="ONNX file with its .card.json")
    parser.add_argument("--out", type=Path, required=True, help="the INT8 ONNX file to write (its card beside it)")
    parser.add_argument(
        "--data", type=Path, action="append", help="calibrate on a labelled folder's images too (repeatable)"
    )
    parser.add_argument("--split", default="train", help="the split of --data folders to calibrate on")
    parser.add_argument("--data-every", type=int, default=4, help="every Nth image of a --data folder")
    parser.add_argument("--scenarios", default="all", help="simulator scenarios to calibrate (and evaluate) on")
    parser.add_argument("--seeds", default="0-1", help="simulator seeds to calibrate on (training seeds; '' none)")
    parser.add_argument("--every", type=int, default=40, help="simulator steps between calibration frames")
    parser.add_argument("--eval-seeds", default="2000-2004", help="held-out seeds to measure both models on ('' none)")
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument(
        "--eval-data", type=Path, action="append", help="labelled folders to measure both models on (repeatable)"
    )
    parser.add_argument("--eval-split", default="val")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (default: stdout)")
    parser.set_defaults(handler=quantize)
