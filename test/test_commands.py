"""The `kvision` commands no other test runs: closed-loop evaluation, dataset exports, engine building, and a
node given a bad value in its YAML parameter file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kvision_driving.core.actions import ACTIONS

BIN = Path(sys.executable).parent


def kvision(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kvision"), *args], capture_output=True, text=True, timeout=timeout)


def test_closed_loop_evaluation_runs_a_scenario_to_its_score(tmp_path: Path) -> None:
    """Planning on exact objects, the simulator in lockstep: a scored run, written as JSON."""
    out = tmp_path / "closed_loop"
    result = kvision(
        "eval", "closed-loop", "--scenario", "curved_road", "--perception", "ground-truth", "--duration", "6",
        "--out", str(out),
    )  # fmt: skip
    (run,) = json.loads((out / "results.json").read_text())
    assert run["scenario"] == "curved_road" and run["mode"] == "ground-truth" and run["collisions"] == 0, run
    assert run["travelled_m"] > 20.0 and 0.0 < run["progress"] <= 1.0, run
    # 6 s cannot reach the goal: the command says which scenario failed and exits 2.
    assert result.returncode == (0 if run["success"] else 2), result.stderr[-3000:]
    assert run["success"] or "failed: curved_road" in result.stderr
    assert "| curved_road |" in (out / "results.md").read_text()


@pytest.mark.slow
def test_closed_loop_every_scenario_with_the_full_stack(tmp_path: Path) -> None:
    """Every scenario to its goal with every node a process (about 15 minutes here): no collision."""
    out = tmp_path / "closed_loop"
    result = kvision(
        "eval", "closed-loop", "--scenario", "all", "--perception", "full", "--out", str(out), timeout=3600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads((out / "results.json").read_text())
    assert len(runs) >= 8
    for run in runs:
        assert run["collisions"] == 0 and run["success"], run


def test_dataset_exports_write_what_training_reads(tmp_path: Path) -> None:
    segmentation = tmp_path / "seg"
    result = kvision(
        "dataset", "segmentation", "--out", str(segmentation), "--scenarios", "curved_road", "--train-seeds", "0",
        "--val-seeds", "1000", "--every", "100", "--appearance", "textures,shadows",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    images = sorted((segmentation / "leftImg8bit" / "train" / "curved_road").glob("*_leftImg8bit.png"))
    assert len(images) >= 2 and (segmentation / "gtFine" / "val" / "curved_road").is_dir()
    labels = cv2.imread(str(images[0]).replace("leftImg8bit", "gtFine").replace(".png", "").replace(
        "_gtFine", "_gtFine_labelTrainIds") + ".png", cv2.IMREAD_UNCHANGED)  # fmt: skip
    assert labels is not None and labels.shape == (384, 640) and labels.max() < 19
    assert "simulator" in (segmentation / "kvision_dataset.yaml").read_text()
    bad = kvision("dataset", "segmentation", "--out", str(tmp_path / "x"), "--appearance", "sepia")
    assert bad.returncode == 2 and "unknown appearance sepia" in bad.stderr

    clips = tmp_path / "clips"
    result = kvision(
        "dataset", "actions", "--out", str(clips), "--scenarios", "lead_vehicle_braking", "--train-seeds", "0",
        "--val-seeds", "1000", "--every", "20",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with (clips / "train" / "clips.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["action"] for row in rows} <= set(ACTIONS)
    with np.load(clips / "train" / rows[0]["path"]) as archive:
        assert archive["clip"].shape == (16, 112, 112, 3) and archive["velocity"].shape == (16, 2)


def test_building_an_engine_without_tensorrt_says_what_to_install(tmp_path: Path) -> None:
    from kvision_driving.inference.model_card import shipped_model

    result = kvision("build-engine", str(shipped_model("segmentation.onnx")), "--cache", str(tmp_path))
    assert result.returncode == 2 and "TensorRT is not installed" in result.stderr
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())
    missing = kvision("build-engine", str(tmp_path / "none.onnx"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_a_bad_value_in_a_parameter_file_stops_the_node_naming_it(ros_graph, tmp_path: Path) -> None:
    config = tmp_path / "segmentation.yaml"
    config.write_text("/**/segmentation_node:\n  ros__parameters:\n    max_rate_hz: -5.0\n")
    ros_graph.start("segmentation", ["segmentation_node", "--ros-args", "--params-file", str(config)])
    assert ros_graph.wait("segmentation", 60) == 2  # a configuration error: the launch files do not respawn it
    log = ros_graph.log("segmentation")
    assert "max_rate_hz" in log and "-5.0" in log and "Traceback" not in log
