"""Closed-loop sweeps: the summary's statistics by hand (``eval.sweep``), and ``kvision eval closed-loop
--seeds ... --ray`` on a real local Ray of 2 CPUs: a sweep in which a run's simulator is killed mid-way and
tried again, then resumed with a seed more, which runs only that one; no Ray process left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from kvision_driving.eval.sweep import HARD_BRAKING_MPS2, SweepRun, SweepStore, plan, summarise, wilson_interval

BIN = Path(sys.executable).parent
SWEEP = ["eval", "closed-loop", "--scenario", "curved_road", "--perception", "ground-truth", "--duration", "4"]
RAY_PROCESSES = ("raylet", "gcs_server", "plasma_store", "ray::")


def test_wilson_intervals_by_hand() -> None:
    # p = 0: (0, z^2 / (n + z^2)); p = 1/2 of 10: 0.5 -+ 0.2634 (the formula worked with z = 1.959964).
    assert wilson_interval(0, 10) == pytest.approx((0.0, 3.8415 / 13.8415), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((1 - 3.8415 / 13.8415, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def result(collisions: int = 0, gap: float | None = 2.0, decel: float = 1.0, progress: float = 1.0) -> dict:
    return {"collisions": collisions, "min_gap_m": gap, "max_decel_mps2": decel, "progress": progress}


def test_the_summary_counts_each_run_once_by_its_last_word(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "runs.jsonl")
    runs = plan(["a", "b"], ["ground-truth"], [0, 1, 2])
    assert [run.key for run in runs[:2]] == ["a/ground-truth/0", "a/ground-truth/1"]
    store.add(runs[0], 1, 10.0, result(gap=0.8))
    store.add(runs[1], 2, 10.0, result(collisions=1, gap=0.0, decel=HARD_BRAKING_MPS2 + 1))
    store.add(runs[2], 3, 0.0, None, "sim died", runs[2].replay_command(4.0))
    store.add(runs[3], 1, 0.0, None, "sim died")  # failed once ...
    store.add(runs[3], 1, 10.0, result(gap=3.0, progress=0.5))  # ... finished on a resumed sweep
    with store.path.open("a") as handle:
        handle.write('{"key": "b/ground-truth/1", "scen')  # the line a killed sweep was writing
    assert store.finished() == {"a/ground-truth/0", "a/ground-truth/1", "b/ground-truth/0"}
    summary = summarise(store.records())
    a, b = summary["a/ground-truth"], summary["b/ground-truth"]
    assert (a["runs"], a["failed"], a["collision_rate"]) == (2, [2], 0.5)
    assert a["collision_rate_95"] == pytest.approx(list(wilson_interval(1, 2)), abs=1e-4)
    assert (a["min_gap_m"], a["hard_braking_runs"], a["worst_seeds"], a["completion"]) == (0.0, 1, [1, 0], 1.0)
    assert (b["runs"], b["failed"], b["completion"], b["worst_seeds"]) == (1, [], 0.5, [0])
    failed = next(record for record in store.records() if "error" in record)
    assert failed["replay"] == "kvision eval closed-loop --scenario a --perception ground-truth --seed 2 --duration 4"
    assert SweepRun("a", "full", -1).key == "a/full/-1"


def ray_processes() -> list[str]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        text = " ".join([process.info["name"] or "", *(process.info["cmdline"] or [])])
        if any(name in text for name in RAY_PROCESSES):
            found.append(text[:120])
    return found


def kvision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kvision"), *args], capture_output=True, text=True, timeout=600)


def records(out: Path) -> dict[str, dict]:
    return {record["key"]: record for record in SweepStore(out / "runs.jsonl").records()}


@pytest.fixture
def no_ray_before_or_after() -> object:
    assert not ray_processes(), "a Ray is already running on this machine"
    yield
    deadline = time.monotonic() + 20.0  # ray.shutdown() returns before the last worker has gone
    while ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ray_processes(), ray_processes()


def test_a_sweep_on_a_local_ray_retries_a_killed_run_then_resumes(
    tmp_path: Path, no_ray_before_or_after: object
) -> None:
    out = tmp_path / "sweep"
    sweep = subprocess.Popen(
        [str(BIN / "kvision"), *SWEEP, "--seeds", "0-1", "--ray", "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = None
    deadline = time.monotonic() + 120.0
    while victim is None and time.monotonic() < deadline and sweep.poll() is None:
        for process in psutil.process_iter(["cmdline"]):
            command = " ".join(process.info["cmdline"] or [])
            if "sim_node" in command and "seed:=1" in command and str(out) in command:
                victim = process
        time.sleep(0.2)
    assert victim is not None, "the simulator of seed 1 never started"
    time.sleep(1.0)  # mid-way: started, not finished (a 4 s scenario takes about 10 s here)
    victim.send_signal(signal.SIGKILL)
    _, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:]
    done = records(out)
    assert sorted(done) == [f"curved_road/ground-truth/{seed}" for seed in range(2)]
    assert done["curved_road/ground-truth/1"]["attempts"] == 2, done
    assert done["curved_road/ground-truth/0"]["attempts"] == 1
    assert all(record["results"]["success"] for record in done.values())
    report = json.loads((out / "summary.json").read_text())
    assert (report["runs"], report["ray"], report["workers"]) == (2, "local", 2) and report["wall_s"] > 0
    summary = report["scenarios"]["curved_road/ground-truth"]
    assert summary["runs"] == 2 and summary["collision_rate"] == 0.0 and summary["failed"] == []
    assert len(json.loads((out / "results.json").read_text())) == 2
    # Resumed with one seed more: only that one runs (the file keeps the lines it had).
    lines_before = (out / "runs.jsonl").read_text()
    resumed = kvision(*SWEEP, "--seeds", "0-2", "--ray", "--workers", "2", "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (out / "runs.jsonl").read_text().startswith(lines_before)
    assert len((out / "runs.jsonl").read_text().splitlines()) == len(lines_before.splitlines()) + 1
    assert records(out)["curved_road/ground-truth/2"]["attempts"] == 1
    assert json.loads((out / "summary.json").read_text())["scenarios"]["curved_road/ground-truth"]["runs"] == 3


def folder_files(root: Path) -> dict[str, Path]:
    return {str(path.relative_to(root)): path for path in sorted(root.rglob("*")) if path.is_file()}


def test_datasets_exported_on_ray_equal_the_serial_export(tmp_path: Path, no_ray_before_or_after: object) -> None:
    common = ["--train-seeds", "0-1", "--val-seeds", ""]  # two runs of one scenario, one Ray task each
    for kind, scenario, every in (("segmentation", "curved_road", "100"), ("actions", "lead_vehicle_braking", "60")):
        common = [*common[:4], "--scenarios", scenario]
        serial = kvision("dataset", kind, "--out", str(tmp_path / kind / "serial"), *common, "--every", every)
        assert serial.returncode == 0, serial.stderr[-2000:]
        shards = kvision("dataset", kind, "--out", str(tmp_path / kind / "ray"), *common, "--every", every, "--ray")
        assert shards.returncode == 0, shards.stderr[-2000:]
        alone, spread = folder_files(tmp_path / kind / "serial"), folder_files(tmp_path / kind / "ray")
        assert sorted(alone) == sorted(spread) and len(alone) > 4, (kind, sorted(alone)[:5])
        for name, path in alone.items():
            if name.endswith(".npz"):  # the archive's member times differ: compare what it holds
                with np.load(path) as one, np.load(spread[name]) as other:
                    assert all(np.array_equal(one[key], other[key]) for key in ("clip", "velocity")), name
            else:  # images, labels, clips.csv in the runs' order, the dataset marker
                assert path.read_bytes() == spread[name].read_bytes(), name
