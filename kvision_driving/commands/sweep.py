"""Run the runs of a closed-loop sweep: one after another here, or as Ray tasks (a local Ray started and
stopped here, or an existing cluster). Each run is its own private ROS graph (``ros.graph.RosGraph``:
its own DDS domain from a per-machine allocator, loopback only), so runs side by side never meet. A run
that fails (a process killed, a simulator that never ends) is tried again up to ``retries`` times, then
recorded with the command that replays it alone. Results stream to the sweep's JSONL file as they come."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from kvision_driving.commands.ray_session import ray_session
from kvision_driving.eval.sweep import SweepRun, SweepStore


@dataclass(frozen=True)
class RunSettings:
    out: Path
    duration_s: float = 0.0
    backend: str = "onnxruntime"
    timeout_s: float = 1800.0


def run_one(run: SweepRun, settings: RunSettings) -> tuple[dict, float]:
    """One run in its own graph: (the simulator's score, wall seconds). Raises RuntimeError naming what failed."""
    from kvision_driving.ros.stack import run_closed_loop

    folder = settings.out / "runs" / f"{run.scenario}_{run.mode}_{run.seed}"
    done = run_closed_loop(
        run.scenario, run.mode, folder, run.seed, settings.duration_s, settings.timeout_s, settings.backend
    )
    return done.results, done.wall_s


# (run, attempts made, wall seconds of the last, its score or None, the error when None)
Outcome = tuple[SweepRun, int, float, dict | None, str]


def sweep(
    runs: list[SweepRun],
    settings: RunSettings,
    store: SweepStore,
    retries: int = 2,
    ray_address: str | None = None,
    workers: int = 1,
) -> None:
    """Every run of ``runs`` not yet finished in ``store``; each outcome appended to it as it comes."""
    finished = store.finished()
    pending = [run for run in runs if run.key not in finished]
    progress = tqdm(total=len(runs), initial=len(runs) - len(pending), desc="sweep", unit="run")
    failures = 0
    outcomes = (
        _on_ray(pending, settings, retries, ray_address, workers) if ray_address else _here(pending, settings, retries)
    )
    for run, attempts, wall_s, results, error in outcomes:
        store.add(run, attempts, wall_s, results, error, run.replay_command(settings.duration_s))
        failures += results is None
        progress.update()
        progress.set_postfix(failed=failures)
    progress.close()


def _here(runs: list[SweepRun], settings: RunSettings, retries: int) -> Iterator[Outcome]:
    """One run after another in this process."""
    for run in runs:
        for attempt in range(1, retries + 2):
            try:
                results, wall_s = run_one(run, settings)
                yield run, attempt, wall_s, results, ""
                break
            except RuntimeError as failure:
                error = str(failure)[-2000:]
        else:
            yield run, retries + 1, 0.0, None, error


def _on_ray(runs: list[SweepRun], settings: RunSettings, retries: int, address: str, workers: int) -> Iterator[Outcome]:
    """Every run a Ray task of one CPU, all submitted at once (Ray starts them as CPUs come free); outcomes
    in the order they finish. ``address`` LOCAL_RAY: a Ray of ``workers`` CPUs on this machine, on
    loopback, started and stopped here; else an existing cluster ("auto" or host:port), left running."""
    with ray_session(address, workers) as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        in_flight = {task.remote(run, settings): (run, 1) for run in runs}
        while in_flight:
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            run, attempt = in_flight.pop(ready)
            try:
                results, wall_s = ray.get(ready)
            except ray.exceptions.RayError as failure:  # the task raised, or its worker died
                if attempt <= retries:
                    in_flight[task.remote(run, settings)] = (run, attempt + 1)
                    continue
                yield run, attempt, 0.0, None, str(failure)[-2000:]
                continue
            yield run, attempt, wall_s, results, ""
