"""``kvision sim ...``: list, record, preview and run scenarios of the built-in simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvision_driving.commands import CliError, write_json


def scenarios_from(text: str) -> list:
    """``all``, a name, a comma list of names, or paths to YAML files -> Scenario objects."""
    from kvision_driving.sim.scenario import ScenarioError, load_scenario, scenario_names

    names = scenario_names() if text == "all" else [item for item in text.split(",") if item]
    try:
        return [load_scenario(name) for name in names]
    except ScenarioError as error:
        raise CliError(str(error)) from error


def _seeded(scenario, seed: int | None):
    return scenario if seed is None else scenario.with_seed(seed)


def list_scenarios(args: argparse.Namespace) -> int:
    for scenario in scenarios_from("all"):
        print(f"{scenario.name:34s} {scenario.layout:12s} {scenario.duration:5.1f} s  {scenario.description}")
    return 0


def record(args: argparse.Namespace) -> int:
    from kvision_driving.ros.sim_record import record as record_bag
    from kvision_driving.sim.sensors import CAMERA_RIGS

    (scenario,) = scenarios_from(args.scenario) if "," not in args.scenario else (None,)
    if scenario is None:
        raise CliError("record takes one scenario")
    if args.out.exists():
        raise CliError(f"{args.out} already exists: choose a new folder for the bag")
    counts = record_bag(
        _seeded(scenario, args.seed),
        args.out,
        args.duration,
        args.storage,
        CAMERA_RIGS[args.rig],
        lidar_offset_steps=args.lidar_offset_steps,
    )
    print(
        f"wrote {args.out}: " + ", ".join(f"{topic} {count}" for topic, count in sorted(counts.items())),
        file=sys.stderr,
    )
    return 0


def preview(args: argparse.Namespace) -> int:
    from kvision_driving.sim.preview import write_preview
    from kvision_driving.sim.simulator import Simulator

    try:
        times = [float(value) for value in args.times.split(",")]
    except ValueError as error:
        raise CliError(f"--times must be a comma list of seconds, got {args.times!r}") from error
    for scenario in scenarios_from(args.scenario):
        for path in write_preview(Simulator(_seeded(scenario, args.seed)), times, args.out):
            print(path)
    return 0


def run(args: argparse.Namespace) -> int:
    """Drive each scenario with the built-in autopilot (no ROS) and report its score."""
    from tqdm import tqdm

    from kvision_driving.sim.simulator import Simulator

    results = []
    for scenario in scenarios_from(args.scenario):
        simulator = Simulator(_seeded(scenario, args.seed), lidar=None, cameras=())
        for _ in tqdm(range(simulator.steps), desc=scenario.name, unit="step", disable=args.quiet):
            simulator.advance(*simulator.autopilot_command())
        results.append(simulator.results())
    write_json(results, args.out)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser("sim", help="the built-in driving simulator")
    actions = sim.add_subparsers(dest="sim", metavar="ACTION")
    actions.required = True

    parser = actions.add_parser("list", help="list the scenarios")
    parser.set_defaults(handler=list_scenarios)

    parser = actions.add_parser("record", help="record a scenario into a rosbag2 (sensors, tf, ground truth, /clock)")
    parser.add_argument("--scenario", required=True, help="scenario name or YAML path")
    parser.add_argument("--out", type=Path, required=True, help="bag folder to create")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: the scenario's)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    parser.add_argument("--rig", choices=("front", "front_left"), default="front", help="camera rig")
    parser.add_argument(
        "--lidar-offset-steps", type=int, choices=(0, 1), default=0, help="sweeps 50 ms after the camera frames (1)"
    )
    parser.set_defaults(handler=record)

    parser = actions.add_parser("preview", help="contact sheets: camera, labels, boxes, bird's-eye view (PNG)")
    parser.add_argument("--scenario", default="all", help="name, comma list, or all")
    parser.add_argument("--times", default="3.0", help="comma list of seconds (default 3.0)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("preview"))
    parser.set_defaults(handler=preview)

    parser = actions.add_parser("run", help="drive scenarios with the built-in autopilot and score them (JSON)")
    parser.add_argument("--scenario", default="all", help="name, comma list, or all")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
