"""Ray for the commands that spread their work over processes or machines: a session (a Ray of N CPUs on
this machine, on loopback, started and stopped by the command; or an existing cluster, left running) and
an ordered map of a function over argument tuples, one task of one CPU each."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from tqdm import tqdm

from kvision_driving.commands import CliError

LOCAL_RAY = "local"  # --ray with no address


def add_ray_arguments(parser: argparse.ArgumentParser, work: str) -> None:
    """``--ray [ADDRESS]`` and ``--workers N`` for a command whose ``work`` can run as Ray tasks."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL_RAY,
        help=f"run {work} as Ray tasks: alone, on a Ray of --workers CPUs started here and stopped at the end; "
        "with 'auto' or host:port, on that running cluster (docs/scaling.md)",
    )
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the Ray started here: tasks side by side")


@contextmanager
def ray_session(address: str, workers: int) -> Iterator[ModuleType]:
    """The ``ray`` module, connected: to a Ray of ``workers`` CPUs started here (``address`` LOCAL_RAY),
    shut down on leaving; or to the cluster at ``address`` ("auto" or host:port), which stays up."""
    try:
        import ray
    except ImportError as error:
        raise CliError("--ray needs Ray: pip install ray (requirements.txt pins the tested version)") from error
    if address == LOCAL_RAY:
        if workers < 1:
            raise CliError("--workers must be 1 or more")
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    else:
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise CliError(f"--ray {address}: no Ray cluster reachable there ({error})") from error
    try:
        yield ray
    finally:
        ray.shutdown()


def ray_map(
    function: Callable[..., Any], calls: Sequence[tuple], address: str, workers: int, description: str
) -> list[Any]:
    """``[function(*call) for call in calls]``, each call a Ray task; results in the calls' order. A task's
    exception is raised here (Ray's error is also an instance of the original exception's class)."""
    with ray_session(address, workers) as ray:
        task = ray.remote(num_cpus=1)(function)
        pending = [task.remote(*call) for call in calls]
        order = list(pending)
        with tqdm(total=len(pending), desc=description, unit="task") as progress:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                progress.update(len(ready))
        return ray.get(order)
