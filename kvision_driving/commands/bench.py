"""``kvision bench ...``: benchmarks that write JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kvision_driving.commands import CliError, write_json


def write_benchmark(result: dict, out: Path | None) -> None:
    """The result with the machine it was measured on (CPU, vector extensions, versions, threads)."""
    from kvision_driving.bench.machine import machine_info

    write_json({**result, "machine": machine_info()}, out)


def transport(args: argparse.Namespace) -> int:
    from kvision_driving.bench import transport as bench
    from kvision_driving.ros.process import prepare_ros_process

    prepare_ros_process()
    kinds = tuple(args.kinds.split(",")) if args.kinds else bench.PAYLOAD_KINDS
    unknown = [kind for kind in kinds if kind not in bench.PAYLOAD_KINDS]
    if unknown:
        raise CliError(f"unknown payload kind(s): {', '.join(unknown)}")
    if args.repeats < 1:
        raise CliError("--repeats must be at least 1")
    result = bench.run(rate_hz=args.rate, count=args.count, kinds=kinds, repeats=args.repeats)
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def sim(args: argparse.Namespace) -> int:
    from kvision_driving.bench import sim as bench

    result = bench.run(frames=args.frames, actor_counts=tuple(args.actors))
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def segmentation(args: argparse.Namespace) -> int:
    from kvision_driving.bench import segmentation as bench
    from kvision_driving.ros.process import prepare_ros_process

    prepare_ros_process()
    variants = tuple(args.variants.split(","))
    unknown = [name for name in variants if name not in bench.VARIANTS]
    if unknown:
        raise CliError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(bench.VARIANTS)}")
    result = bench.run(variants, rate_hz=args.rate, duration_s=args.duration)
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def fusion(args: argparse.Namespace) -> int:
    from kvision_driving.bench import fusion as bench

    result = bench.run(args.kitti)
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def actions(args: argparse.Namespace) -> int:
    from kvision_driving.bench import actions as bench

    result = bench.run(tuple(args.backends.split(",")), tracks=args.tracks)
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def planning(args: argparse.Namespace) -> int:
    from kvision_driving.bench import planning as bench

    result = bench.run(tuple(int(n) for n in args.objects.split(",")))
    write_benchmark(result, args.out)
    print(bench.summary_table(result), file=sys.stderr)
    return 0


def _prepare_graph_benchmark(args: argparse.Namespace) -> None:
    """What the benchmarks of the whole stack share: the loopback DDS profile, and a bag that exists."""
    from kvision_driving.ros.process import prepare_ros_process

    prepare_ros_process()
    if args.bag is not None and not args.bag.exists():
        raise CliError(f"no bag at {args.bag}")


def _report(result: dict, table: str, args: argparse.Namespace) -> int:
    write_benchmark(result, args.out)
    if args.markdown:
        args.markdown.write_text(table)
    print(table, file=sys.stderr)
    return 0


def pipeline(args: argparse.Namespace) -> int:
    from kvision_driving.bench import pipeline as bench

    _prepare_graph_benchmark(args)
    if args.warmup < 0:
        raise CliError("--warmup must be >= 0")
    if args.stale_after < 0:
        raise CliError("--stale-after must be >= 0 (0: off)")
    if args.cpus < 0:
        raise CliError("--cpus must be >= 0 (0: no limit)")
    from kvision_driving.bench.cpu_limit import CpuLimitError

    try:
        result = bench.run(
            args.bag,
            args.scenario,
            args.duration,
            tuple(args.backends.split(",")),
            args.logs,
            warmup_s=args.warmup,
            stale_after_s=args.stale_after,
            cpus=args.cpus,
        )
    except CpuLimitError as error:
        raise CliError(str(error)) from error
    return _report(result, bench.summary_table(result), args)


def soak(args: argparse.Namespace) -> int:
    from kvision_driving.bench import soak as bench

    _prepare_graph_benchmark(args)
    if args.minutes * 60 < args.warmup + 60:
        raise CliError(f"--minutes {args.minutes} leaves less than a minute after the {args.warmup:.0f} s warm-up")
    result = bench.run(
        args.minutes, args.bag, args.scenario, args.duration, args.backend, warmup_s=args.warmup, logs=args.logs
    )
    return _report(result, bench.summary_table(result), args)


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks (JSON out)")
    benches = bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    benches.required = True

    parser = benches.add_parser("transport", help="Image and PointCloud2 between two processes: latency, loss, CPU")
    parser.add_argument("--rate", type=float, default=30.0, help="messages per second (default 30)")
    parser.add_argument("--count", type=int, default=300, help="messages per run (default 300)")
    parser.add_argument("--kinds", default="", help="comma list of image,cloud (default both)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each payload and QoS, interleaved (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=transport)

    parser = benches.add_parser("segmentation", help="segmentation node fps and overhead: ONNX Runtime, torch, naive")
    parser.add_argument("--variants", default="onnxruntime,onnxruntime-float,torch,naive")
    parser.add_argument("--rate", type=float, default=30.0, help="camera frames per second offered (default 30)")
    parser.add_argument("--duration", type=float, default=12.0, help="measured seconds per variant")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=segmentation)

    parser = benches.add_parser("fusion", help="painting + clustering + tracking per lidar sweep (sim and KITTI)")
    parser.add_argument("--kitti", type=Path, default=Path("../shared/data/kitti"), help="a KITTI frame folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=fusion)

    parser = benches.add_parser("sim", help="simulator frame time (camera + labels + lidar + ground truth)")
    parser.add_argument("--frames", type=int, default=40, help="frames per measurement (default 40)")
    parser.add_argument("--actors", type=int, nargs="+", default=[10, 50, 100], help="actor counts to scale to")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=sim)

    parser = benches.add_parser("actions", help="action node work per frame: crops, one batch, predictions")
    parser.add_argument("--backends", default="onnxruntime,torch")
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=actions)

    parser = benches.add_parser("pipeline", help="the whole stack on a simulator bag at sensor rates, per backend")
    parser.add_argument("--bag", type=Path, default=None, help="a recorded simulator bag (default: record one)")
    parser.add_argument("--scenario", default="dense_traffic", help="scenario to record when no --bag")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds to record when no --bag")
    parser.add_argument("--backends", default="onnxruntime,torch")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of the bag's end played unmeasured first (0: none)"
    )
    parser.add_argument(
        "--cpus",
        type=float,
        default=0.0,
        help="the nodes share this many CPUs (a slower machine: cgroup CPU bandwidth, else whole cores); 0: all",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=0.0,
        help="seconds: the perception nodes drop inputs already this old when their turn comes (0: off)",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep the node logs here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the summary table here")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=pipeline)

    parser = benches.add_parser("soak", help="the whole stack for N minutes on a looping bag: memory growth")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--bag", type=Path, default=None, help="a recorded simulator bag (default: record one)")
    parser.add_argument("--scenario", default="dense_traffic", help="scenario to record when no --bag")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds to record when no --bag")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before memory is compared")
    parser.add_argument("--logs", type=Path, default=None, help="keep the node logs here")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the summary table here")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=soak)

    parser = benches.add_parser("planning", help="planning cycle time by number of predicted objects")
    parser.add_argument("--objects", default="0,10,20,40", help="comma list of object counts")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: stdout)")
    parser.set_defaults(handler=planning)
