"""`kvision eval fusion` on a recorded held-out simulator run: the fusion chain meets its floors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

BIN = Path(sys.executable).parent


def test_fusion_on_a_held_out_run_meets_its_floors(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    record = subprocess.run(
        [
            str(BIN / "kvision"),
            "sim",
            "record",
            "--scenario",
            "dense_traffic",
            "--seed",
            "1002",
            "--duration",
            "5",
            "--out",
            str(bag),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert record.returncode == 0, record.stderr
    out, png = tmp_path / "fusion.json", tmp_path / "bev.png"
    evaluate = subprocess.run(
        [str(BIN / "kvision"), "eval", "fusion", str(bag), "--out", str(out), "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluate.returncode == 0, evaluate.stderr
    result = json.loads(out.read_text())
    assert png.stat().st_size > 10_000
    car = result["by_class"]["car"]
    assert result["frames"] >= 45
    # Measured on this run (2026-12-07): car recall 0.946, precision 1.0, centre 0.08 m, velocity 0.05 m/s,
    # pedestrians all found, MOTA 0.949, 1 identity switch. Floors a little below, not far below.
    assert car["recall"] >= 0.9 and car["precision"] >= 0.95, car
    assert car["centre_error_median_m"] <= 0.15 and car["velocity_error_median_mps"] <= 0.15, car
    assert result["by_class"]["pedestrian"]["recall"] >= 0.9, result["by_class"]["pedestrian"]
    assert result["mota"] >= 0.9 and result["id_switches"] <= 3, result


def test_eval_refuses_a_missing_bag(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "kvision"), "eval", "fusion", str(tmp_path / "none")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "not found" in result.stderr


@pytest.mark.parametrize("evaluation", ["fusion", "actions", "prediction"])
@pytest.mark.parametrize("bag", ["talker_sqlite3", "cdr_test_mcap"])
def test_eval_refuses_a_real_bag_without_ground_truth_and_names_what_it_lacks(evaluation: str, bag: str) -> None:
    """Bags recorded by others (a talker, a bare MCAP file): no traceback and no empty score with exit 0."""
    extra = ["--actions", "ground-truth"] if evaluation == "prediction" else []
    result = subprocess.run(
        [str(BIN / "kvision"), "eval", evaluation, str(SHARED_DATA / "rosbag2" / bag), *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lacking = "/ground_truth/objects/" if evaluation == "fusion" else "/localization/odometry"
    assert "cannot be evaluated" in result.stderr and lacking in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not result.stdout.strip()


def test_fusion_on_real_argoverse_frames_with_the_shipped_segmentation(tmp_path: Path) -> None:
    """Three real lidar + camera frames of a busy intersection (Argoverse in the KITTI layout): imported, their
    images segmented by the shipped model, painted, clustered and scored against the labelled boxes."""
    bag = tmp_path / "argoverse"
    imported = subprocess.run(
        [str(BIN / "kvision"), "import-kitti", str(SHARED_DATA / "argoverse_kitti"), "--out", str(bag)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-2000:]
    out = tmp_path / "fusion.json"
    evaluate = subprocess.run(
        [str(BIN / "kvision"), "eval", "fusion", str(bag), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["labels"] == "model" and result["frames"] == 3 and result["id_switches"] is None
    car = result["by_class"]["car"]
    assert car["true_positives"] + car["false_negatives"] >= 20  # cars the camera and the lidar both see
    assert car["recall"] >= 0.8, car
    assert max(result["false_objects_per_frame"]) <= 5, result["false_objects_per_frame"]
    assert car["centre_error_median_m"] <= 1.0, car
