"""``kvision build-engine``: build a model's TensorRT engine ahead of time, so a vehicle never stalls at start."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kvision_driving.commands import CliError


def build_engine(args: argparse.Namespace) -> int:
    from kvision_driving.inference.backends import BackendUnavailableError
    from kvision_driving.inference.model_card import ModelIntegrityError, verified_card
    from kvision_driving.inference.tensorrt import DEFAULT_CACHE, CalibrationBatches, cached_engine

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        card = verified_card(args.model)
        if args.precision == "int8" and args.calibration is None:
            raise CliError("--precision int8 needs --calibration DIR (a folder of camera frames)")
        calibration = CalibrationBatches(args.calibration, card, args.calibration_batch) if args.calibration else None
        _, engine = cached_engine(
            args.model, card, args.precision, args.max_batch, args.cache or DEFAULT_CACHE, calibration
        )
    except (ModelIntegrityError, BackendUnavailableError, FileNotFoundError) as error:
        raise CliError(str(error)) from error
    print(f"engine ready: {engine}", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("build-engine", help="build (and cache) a TensorRT engine for a model")
    parser.add_argument("model", type=Path, help="ONNX file with its .card.json")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16")
    parser.add_argument("--calibration", type=Path, default=None, help="folder of images for INT8 calibration")
    parser.add_argument("--calibration-batch", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=16, help="largest batch the engine accepts")
    parser.add_argument(
        "--cache", type=Path, default=None, help="engine cache folder (default ~/.cache/kvision/engines)"
    )
    parser.set_defaults(handler=build_engine)
