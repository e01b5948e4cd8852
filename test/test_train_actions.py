"""``kvision train actions`` end to end on a tiny clip folder: train, checkpoint, resume, plots, export."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from kvision_driving.core.actions import ACTIONS
from kvision_driving.inference.model_card import verified_card


def clip_folder(root: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    with (root / "clips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "action", "kind", "scenario", "seed", "actor_id", "step"])
        for index in range(count):
            name = f"clip_{index:03d}.npz"
            clip = rng.integers(0, 255, (16, 112, 112, 3), dtype=np.uint8)
            np.savez_compressed(root / name, clip=clip, velocity=rng.normal(size=(16, 2)).astype(np.float32))
            action = ACTIONS[index % len(ACTIONS)]
            writer.writerow([name, action, "pedestrian" if action in ACTIONS[6:] else "car", "test", seed, index, 0])


def kvision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvision_driving.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_train_resume_and_export(tmp_path: Path) -> None:
    clip_folder(tmp_path / "data" / "train", 18, 0)
    clip_folder(tmp_path / "data" / "val", 9, 1)
    run = tmp_path / "run"
    common = ["train", "actions", "--data", str(tmp_path / "data"), "--out", str(run), "--batch-size", "4"]
    first = kvision(*common, "--iterations", "2", "--eval-every", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    assert (run / "checkpoint.pt").exists()
    second = kvision(*common, "--iterations", "4", "--eval-every", "2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout + second.stderr and "at iteration 2" in second.stdout + second.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_clips"] == 18 and metrics["val_clips"] == 9
    assert set(metrics["metrics"]["per_class_recall"]) == set(ACTIONS)
    assert (run / "confusion.png").stat().st_size > 0 and (run / "curves.png").stat().st_size > 0
    onnx = tmp_path / "actions.onnx"
    exported = kvision(
        "export",
        "actions",
        str(run / "actions.safetensors"),
        "--out",
        str(onnx),
        "--metrics",
        str(run / "metrics.json"),
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    card = verified_card(onnx)
    assert card.task == "actions" and card.training["train_clips"] == 18
    missing = kvision("train", "actions", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2"))
    assert missing.returncode == 2 and "clips.csv" in missing.stderr


def learnable_clip_folder(root: Path, count: int, seed: int) -> None:
    """Clips whose action shows in them: a coarse pattern of its own per class (a left signal's the mirror of
    the right one's, as augmentation's mirroring swaps them), under noise."""
    from kvision_driving.nets.train_actions import MIRRORED

    rng, patterns = np.random.default_rng(seed), {}
    for label in range(len(ACTIONS)):
        coarse = np.random.default_rng(100 + min(label, MIRRORED.get(label, label))).integers(0, 255, (4, 4, 3))
        pattern = cv2.resize(coarse.astype(np.uint8), (112, 112), interpolation=cv2.INTER_NEAREST)
        patterns[label] = pattern[:, ::-1] if MIRRORED.get(label, label) < label else pattern
    root.mkdir(parents=True)
    with (root / "clips.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "action", "kind", "scenario", "seed", "actor_id", "step"])
        for index in range(count):
            label = index % len(ACTIONS)
            noise = rng.normal(0.0, 10.0, (16, 112, 112, 3))
            clip = np.clip(patterns[label][None] + noise, 0, 255).astype(np.uint8)
            name = f"clip_{index:03d}.npz"
            np.savez_compressed(root / name, clip=clip, velocity=rng.normal(size=(16, 2)).astype(np.float32))
            action = ACTIONS[label]
            writer.writerow([name, action, "pedestrian" if action in ACTIONS[6:] else "car", "test", seed, index, 0])


def test_training_learns_what_the_clips_show(tmp_path: Path) -> None:
    """A real (short) training run on clips whose class is visible: validation accuracy far above chance.
    Without the optimiser's step (or with a broken loss) it stays at chance."""
    learnable_clip_folder(tmp_path / "data" / "train", 4 * len(ACTIONS), 0)
    learnable_clip_folder(tmp_path / "data" / "val", 2 * len(ACTIONS), 1)
    run = tmp_path / "run"
    result = kvision(
        "train", "actions", "--data", str(tmp_path / "data"), "--out", str(run), "--frames", "2",
        "--batch-size", "8", "--iterations", "150", "--eval-every", "150", "--lr", "0.003", "--threads", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    accuracy = json.loads((run / "metrics.json").read_text())["metrics"]["accuracy"]
    assert accuracy >= 0.8, accuracy  # chance: 1 / len(ACTIONS); measured 1.0
