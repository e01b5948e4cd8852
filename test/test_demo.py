"""``kvision demo``: the whole stack closed loop (every node a process), recorded, reported; and on bags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from conftest import SHARED_DATA


def kvision(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvision_driving.cli", *args], capture_output=True, text=True, timeout=timeout_s
    )


def assert_report(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    video = cv2.VideoCapture(str(out / "demo.mp4"))
    assert video.isOpened() and video.get(cv2.CAP_PROP_FRAME_COUNT) > 0
    key_frame = cv2.imread(str(out / "key_frame_1.png"))
    assert key_frame is not None and key_frame.shape[1] == 1280  # camera | bird's-eye view
    assert "| metric | value |" in (out / "metrics.md").read_text()
    return metrics


def test_demo_live_closed_loop(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = kvision("demo", "--duration", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = assert_report(out)
    assert metrics["closed_loop"]["collisions"] == 0
    assert metrics["segmentation_miou"] > 0.5  # scored against the simulator's exact labels
    assert metrics["detection_recall"] is not None and metrics["detection_recall"] > 0.5
    assert set(metrics["nodes"]) >= {"segmentation_node", "fusion_node", "action_node", "planning_node"}
    assert sum(metrics["behaviours"].values()) > 0


@pytest.fixture(scope="module")
def kitti_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kitti") / "bag"
    result = kvision("import-kitti", str(SHARED_DATA / "kitti"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_demo_on_a_simulator_bag_and_a_kitti_bag(tmp_path: Path, kitti_bag: Path) -> None:
    recorded = tmp_path / "sim_bag"
    result = kvision("sim", "record", "--scenario", "lead_vehicle_braking", "--duration", "3", "--out", str(recorded))
    assert result.returncode == 0, result.stderr
    for name, bag in (("sim", recorded), ("kitti", kitti_bag)):
        out = tmp_path / f"report_{name}"
        result = kvision("demo", "--bag", str(bag), "--out", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = assert_report(out)
        assert "closed_loop" not in metrics  # perception only: no planning ground truth
        assert metrics["ground_truth"] == (name == "sim")
        if name == "sim":
            assert metrics["segmentation_miou"] > 0.5
    missing = kvision("demo", "--bag", str(tmp_path / "nothing"), "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and "not found" in missing.stderr
