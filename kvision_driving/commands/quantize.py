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
        if args.data is not None:
            calibration = evaluation.folder_samples(args.data, args.split)[:: args.every]
        else:
            calibration = evaluation.simulator_samples(
                scenarios_from(args.scenarios), parse_seeds(args.seeds), args.every
            )
        print(f"calibrating on {len(calibration)} frames", file=sys.stderr)
        source = f"--data {args.data} --split {args.split}" if args.data else f"--scenarios {args.scenarios}"
        source += "" if args.data else f" --seeds {args.seeds}"
        command = f"kvision quantize {args.model} --out {args.out} {source} --every {args.every}"
        _, card = quantize_model(args.model, (rgb for rgb, _ in calibration), args.out, command)
        report: dict[str, Any] = {"model": str(args.out), "calibration_frames": len(calibration)}
        if args.eval_seeds:
            # The same held-out frames through both models: the INT8 model's accuracy and what it costs.
            held_out = evaluation.simulator_samples(
                scenarios_from(args.scenarios), parse_seeds(args.eval_seeds), args.eval_every
            )
            models = {"int8": args.out, "float": args.model}
            scores = {name: evaluation.evaluate(path, held_out) for name, path in models.items()}
            prefix = f"heldout_seeds_{args.eval_seeds.replace('-', '_')}"
            card.metrics = {
                f"{prefix}_miou": round(scores["int8"]["miou"], 4),
                f"{prefix}_frames": scores["int8"]["images"],
                f"{prefix}_per_class_iou": scores["int8"]["per_class_iou"],
                f"{prefix}_float_model_miou": round(scores["float"]["miou"], 4),
                "model_ms_p50_onnxruntime_cpu": round(scores["int8"]["model_ms_p50"], 1),
                "float_model_ms_p50_onnxruntime_cpu": round(scores["float"]["model_ms_p50"], 1),
            }
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
    parser.add_argument("--data", type=Path, default=None, help="calibrate on a Cityscapes-layout folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--scenarios", default="all", help="simulator scenarios to calibrate (and evaluate) on")
    parser.add_argument("--seeds", default="0-1", help="simulator seeds to calibrate on (training seeds)")
    parser.add_argument("--every", type=int, default=40, help="frames between calibration frames")
    parser.add_argument("--eval-seeds", default="2000-2004", help="held-out seeds to measure both models on ('' none)")
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (default: stdout)")
    parser.set_defaults(handler=quantize)
