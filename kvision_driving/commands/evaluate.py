"""``kvision eval ...``: score the stack against the simulator's ground truth."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kvision_driving.commands import CliError, write_json
from kvision_driving.commands.ray_session import LOCAL_RAY, add_ray_arguments
from kvision_driving.core.frames import FrameNotFoundError
from kvision_driving.data.bag_source import BagError

# What a bag itself can lack: not a rosbag2, a topic the evaluation reads, a transform. Anything else raised
# while evaluating is a bug of ours and keeps its traceback.
BAG_CONTENT_ERRORS = (BagError, FrameNotFoundError)

if TYPE_CHECKING:
    from kvision_driving.perception.clips import ActionRecogniser


def fusion(args: argparse.Namespace) -> int:
    from kvision_driving.eval.fusion import LABEL_SOURCES, evaluate_bag
    from kvision_driving.inference.backends import BackendUnavailableError
    from kvision_driving.inference.model_card import ModelIntegrityError

    if not args.bag.exists():
        raise CliError(f"bag {args.bag} not found")
    if args.labels not in LABEL_SOURCES:
        raise CliError(f"--labels must be one of {', '.join(LABEL_SOURCES)}")
    try:
        result = evaluate_bag(args.bag, args.labels, png=args.png, model=args.model, backend=args.backend)
    except BAG_CONTENT_ERRORS as error:
        raise _bag_error(args.bag, error) from error
    except (ModelIntegrityError, BackendUnavailableError) as error:
        raise CliError(f"model: {error}") from error
    write_json(result, args.out)
    return 0


def segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.commands import parse_seeds
    from kvision_driving.commands.sim import scenarios_from
    from kvision_driving.data.cityscapes import DatasetError
    from kvision_driving.data.segmentation_sets import load_spec
    from kvision_driving.eval import segmentation as evaluation
    from kvision_driving.inference.backends import BackendUnavailableError
    from kvision_driving.inference.model_card import ModelIntegrityError, shipped_model

    model = args.model or shipped_model("segmentation.onnx")
    try:
        if args.data is not None:
            spec = load_spec(args.spec) if args.spec else None
            data = evaluation.folder_frames(args.data, args.split, spec)
        else:
            data = evaluation.simulator_frames(scenarios_from(args.scenarios), parse_seeds(args.seeds), args.every)
        result = evaluation.evaluate(model, data, args.backend, args.grid, confusion_png=args.confusion)
    except (DatasetError, ModelIntegrityError, BackendUnavailableError) as error:
        raise CliError(str(error)) from error
    write_json(result, args.out)
    return 0


def _recogniser(model: Path | None, backend: str) -> ActionRecogniser:
    from kvision_driving.inference.backends import BackendUnavailableError, create_backend
    from kvision_driving.inference.model_card import ModelIntegrityError, shipped_model
    from kvision_driving.perception.clips import ActionRecogniser

    model = model or shipped_model("actions.onnx")  # the source tree's or the installed share folder's
    try:
        choice = create_backend(model, backend)
        return ActionRecogniser(choice.backend, choice.card)
    except (ModelIntegrityError, BackendUnavailableError, ValueError) as error:
        raise CliError(f"model {model}: {error}") from error


def _bag_error(bag: Path, error: Exception) -> CliError:
    return CliError(f"{bag} cannot be evaluated: {error} (record one with kvision sim record)")


def actions(args: argparse.Namespace) -> int:
    from kvision_driving.eval.actions import evaluate_actions

    if not args.bag.exists():
        raise CliError(f"bag {args.bag} not found")
    recogniser = _recogniser(args.model, args.backend)
    try:
        result = evaluate_actions(args.bag, recogniser)
    except BAG_CONTENT_ERRORS as error:
        raise _bag_error(args.bag, error) from error
    if args.png is not None:
        import numpy as np

        from kvision_driving.nets.plots import plot_confusion

        confusion = np.array(result["confusion"])
        present = np.flatnonzero(confusion.sum(1) + confusion.sum(0) > 0)
        names = [result["classes"][c] for c in present]
        plot_confusion(confusion[np.ix_(present, present)], names, f"Actions on {args.bag.name}", args.png)
    write_json(result, args.out)
    return 0


def prediction(args: argparse.Namespace) -> int:
    from kvision_driving.eval.actions import evaluate_prediction

    if not args.bag.exists():
        raise CliError(f"bag {args.bag} not found")
    recogniser = None if args.actions == "ground-truth" else _recogniser(args.model, args.backend)
    try:
        result = evaluate_prediction(args.bag, recogniser)
    except BAG_CONTENT_ERRORS as error:
        raise _bag_error(args.bag, error) from error
    write_json(result, args.out)
    return 0


def closed_loop(args: argparse.Namespace) -> int:
    from kvision_driving.bench.machine import machine_info
    from kvision_driving.commands import parse_seeds
    from kvision_driving.commands.sim import scenarios_from
    from kvision_driving.commands.sweep import RunSettings, sweep
    from kvision_driving.eval.sweep import SweepStore, plan, summarise, summary_table
    from kvision_driving.ros.stack import MODES, ClosedLoopRun, results_table

    modes = args.perception.split(",")
    if not set(modes) <= set(MODES) or not modes:
        raise CliError(f"--perception takes {' or '.join(MODES)}, or both comma-separated; got {args.perception!r}")
    if args.retries < 0:
        raise CliError("--retries must be 0 or more")
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    runs = plan([scenario.name for scenario in scenarios_from(args.scenario)], modes, seeds)
    store = SweepStore(args.out / "runs.jsonl")
    if not args.resume:
        store.path.unlink(missing_ok=True)
    settings = RunSettings(args.out, args.duration, args.backend)
    started = time.monotonic()
    sweep(runs, settings, store, args.retries, args.ray, args.workers)
    wall_s = time.monotonic() - started

    wanted = {run.key for run in runs}
    records = [record for record in store.records() if record["key"] in wanted]
    summary = summarise(records)
    how = {"ray": args.ray, "workers": args.workers if args.ray == LOCAL_RAY else None, "retries": args.retries}
    write_json(
        {"runs": len(runs), "wall_s": round(wall_s, 1), **how, "machine": machine_info(), "scenarios": summary},
        args.out / "summary.json",
    )
    (args.out / "summary.md").write_text(summary_table(summary))
    done = sorted((record for record in records if "results" in record), key=lambda record: record["key"])
    table = results_table([ClosedLoopRun(r["scenario"], r["mode"], r["results"], r["wall_s"], args.out) for r in done])
    (args.out / "results.md").write_text(table)
    write_json([{"mode": r["mode"], "wall_s": r["wall_s"], **r["results"]} for r in done], args.out / "results.json")
    print(table if len(done) <= 20 else summary_table(summary))
    finished = {record["key"] for record in done}
    lost = [record for record in records if "results" not in record and record["key"] not in finished]
    if lost:
        replays = "\n".join(f"  {record['replay']}" for record in lost)
        raise CliError(f"{len(lost)} run(s) never finished after {args.retries} retries; replay alone with:\n{replays}")
    failed = [f"{r['scenario']}" + (f" (seed {r['seed']})" if len(seeds) > 1 else "") for r in done
              if not r["results"]["success"]]  # fmt: skip
    if failed:
        raise CliError(f"failed: {', '.join(failed)}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score perception against simulator ground truth (JSON)")
    kinds = evaluate.add_subparsers(dest="evaluation", metavar="WHAT")
    kinds.required = True
    parser = kinds.add_parser("fusion", help="detection precision/recall by class and range, errors, MOTA, ID switches")
    parser.add_argument("bag", type=Path, help="a bag from kvision sim record, or kvision import-kitti with labels")
    parser.add_argument(
        "--labels",
        default="auto",
        help="what paints the points: ground-truth (simulator) | segmentation (recorded node output) | "
        "model (segment the bag's images here) | auto (the first of those the bag allows)",
    )
    parser.add_argument("--model", type=Path, default=None, help="segmentation model for --labels model (shipped)")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--png", type=Path, default=None, help="bird's-eye view of the last scored sweep")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=fusion)

    parser = kinds.add_parser(
        "segmentation", help="per-class IoU of a model on held-out simulator seeds or a labelled folder, in its classes"
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="an ONNX model with its card (default: the shipped one)"
    )
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a labelled folder: CamVid or Cityscapes layout, or one with a kvision_dataset.yaml (else: the simulator)",
    )
    parser.add_argument("--spec", default=None, help="the folder's dataset spec: a name (camvid, cityscapes) or a YAML")
    parser.add_argument("--split", default="val")
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--seeds", default="2000", help="simulator seeds never used in training")
    parser.add_argument("--every", type=int, default=20, help="simulator steps between frames")
    parser.add_argument("--grid", type=Path, default=None, help="write a camera | truth | prediction PNG")
    parser.add_argument("--confusion", type=Path, default=None, help="write the confusion matrix PNG")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=segmentation)

    parser = kinds.add_parser("actions", help="action accuracy, per-class recall, confusion on a simulator bag")
    parser.add_argument("bag", type=Path, help="a bag from kvision sim record")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model with its card (default: the shipped one)")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--png", type=Path, default=None, help="write the confusion matrix")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=actions)

    parser = kinds.add_parser("prediction", help="ADE/FDE at 1, 2, 3 s vs a constant-velocity baseline")
    parser.add_argument("bag", type=Path, help="a bag from kvision sim record")
    parser.add_argument("--actions", choices=("recognised", "ground-truth"), default="recognised")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model with its card (default: the shipped one)")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--out", type=Path, default=None)
    parser.set_defaults(handler=prediction)

    parser = kinds.add_parser(
        "closed-loop", help="drive scenarios with the whole stack as processes, score them; sweeps over seeds"
    )
    parser.add_argument("--scenario", default="all", help="name, comma list, or all")
    parser.add_argument(
        "--perception", default="full", help="full, ground-truth, or both comma-separated (each run once per mode)"
    )
    parser.add_argument("--seed", type=int, default=-1, help="-1: each scenario's own seed")
    parser.add_argument("--seeds", help="a sweep: every scenario and mode with each of these seeds (0-99, 1,5,7-9)")
    add_ray_arguments(parser, "the runs")
    parser.add_argument("--retries", type=int, default=2, help="tries again for a run that fails (a process died)")
    parser.add_argument("--resume", action="store_true", help="keep --out's runs.jsonl and run only what is missing")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (0: each scenario's)")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--out", type=Path, default=Path("closed_loop"))
    parser.set_defaults(handler=closed_loop)
