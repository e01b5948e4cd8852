"""``kvision train segmentation``: the network's detail refinement, fine-tuning starts, the loss and
metric helpers, and a real training run (with resume) on the Cityscapes sample in ../shared/data."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from conftest import SHARED_DATA
from safetensors.torch import save_file

from kvision_driving.core.labels import IGNORE, TRAIN_ID
from kvision_driving.nets.segmentation import NUM_CLASSES, FastSCNN
from kvision_driving.nets.train_segmentation import (
    InitialWeightsError,
    TrainConfig,
    augment,
    class_weights,
    confusion_matrix,
    iou_from_confusion,
    load_initial_weights,
)

CITYSCAPES = SHARED_DATA / "cityscapes"


def kvision(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvision_driving.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_detail_refinement_starts_as_the_plain_upsampling() -> None:
    """Zero-initialised correction: adding the module to a trained network keeps its output exactly."""
    torch.manual_seed(0)
    network = FastSCNN().eval()
    image = torch.randn(1, 3, 128, 256)
    with torch.inference_mode():
        quarter = network.downsample[:2](image)
        detail = network.downsample[2](quarter)
        context = F.interpolate(network.global_features(detail), size=detail.shape[-2:], mode="bilinear")
        logits = network.classifier(F.relu(network.detail(detail) + network.context(context)))
        plain = F.interpolate(logits, size=quarter.shape[-2:], mode="bilinear")
        plain = F.interpolate(plain, size=(128, 256), mode="bilinear")
        torch.testing.assert_close(network(image), plain)
        torch.nn.init.normal_(network.refine.correction.weight)
        assert not torch.allclose(network(image), plain)


def test_fine_tuning_starts_from_older_weights_and_names_what_is_new(tmp_path: Path, capsys) -> None:
    trained = {name: value for name, value in FastSCNN().state_dict().items() if not name.startswith("refine.")}
    older = tmp_path / "older.safetensors"
    save_file(trained, str(older))
    network = FastSCNN()
    load_initial_weights(network, older)
    assert "new since then: refine" in capsys.readouterr().out
    torch.testing.assert_close(network.state_dict()["classifier.3.weight"], trained["classifier.3.weight"])
    foreign = tmp_path / "foreign.safetensors"
    save_file({**trained, "head.weight": torch.zeros(3)}, str(foreign))
    with pytest.raises(InitialWeightsError, match=r"tensors the network does not have: head\.weight"):
        load_initial_weights(FastSCNN(), foreign)
    misshapen = tmp_path / "misshapen.safetensors"
    save_file({**trained, "classifier.3.weight": torch.zeros(7, 128, 1, 1)}, str(misshapen))
    with pytest.raises(InitialWeightsError, match=r"does not fit the network.*classifier\.3\.weight"):
        load_initial_weights(FastSCNN(), misshapen)


def test_confusion_and_iou_by_hand() -> None:
    truth = np.array([[0, 0, 1, IGNORE]], np.uint8)
    prediction = np.array([[0, 1, 1, 5]], np.uint8)
    confusion = confusion_matrix(prediction, truth)
    assert confusion.sum() == 3 and confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[1, 1] == 1
    iou, present = iou_from_confusion(confusion)
    assert present.tolist() == [True, True] + [False] * (NUM_CLASSES - 2)
    assert iou[0] == pytest.approx(0.5) and iou[1] == pytest.approx(0.5)


def test_class_weights_favour_rare_classes_and_skip_absent_ones() -> None:
    labels = np.full((1, 100, 100), TRAIN_ID["road"], np.uint8)
    labels[0, :5, :5] = TRAIN_ID["pole"]
    labels[0, 50, :] = IGNORE
    weights = class_weights(labels)
    assert weights[TRAIN_ID["pole"]] > 5 * weights[TRAIN_ID["road"]]
    assert weights[TRAIN_ID["car"]] == 0.0
    assert torch.all(weights <= 1.0 / np.log(1.02) + 1e-6)


def test_augment_crops_to_size_and_pads_with_ignore() -> None:
    rgb = np.full((40, 60, 3), 128, np.uint8)
    labels = np.full((40, 60), TRAIN_ID["road"], np.uint8)
    config = TrainConfig(data=Path("."), out=Path("."), crop=64, scale_range=(0.5, 0.5))
    out_rgb, out_labels = augment(rgb, labels, config, random.Random(0))
    assert out_rgb.shape == (64, 64, 3) and out_labels.shape == (64, 64)
    assert (out_labels == IGNORE).sum() == 64 * 64 - 20 * 30  # the scaled image is 30x20; the rest is padding
    assert set(np.unique(out_labels)) == {TRAIN_ID["road"], IGNORE}


@pytest.fixture
def cityscapes_splits(tmp_path: Path) -> Path:
    """The real Cityscapes sample as both splits, linked in place (never copied)."""
    if not CITYSCAPES.is_dir():
        pytest.skip(f"{CITYSCAPES} is missing")
    root = tmp_path / "cityscapes"
    for kind in ("leftImg8bit", "gtFine"):
        for split in ("train", "val"):
            (root / kind / split).mkdir(parents=True)
            (root / kind / split / "frankfurt").symlink_to(CITYSCAPES / kind / "val" / "frankfurt")
    return root


def test_training_on_real_cityscapes_learns_and_resumes(cityscapes_splits: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    common = ["train", "segmentation", "--data", str(cityscapes_splits), "--out", str(run)]
    common += ["--height", "128", "--width", "256", "--crop", "128", "--batch-size", "2", "--threads", "2"]
    first = kvision(*common, "--iterations", "2", "--eval-every", "2")
    assert first.returncode == 0, first.stderr[-2000:]
    before = json.loads((run / "metrics.json").read_text())["metrics"]
    second = kvision(*common, "--iterations", "60", "--eval-every", "30")
    assert second.returncode == 0, second.stderr[-2000:]
    said = second.stdout + second.stderr
    assert "resumed from" in said and "at iteration 2" in said
    summary = json.loads((run / "metrics.json").read_text())
    after = summary["metrics"]
    assert summary["train_images"] == 1 and summary["val_images"] == 1
    # One real street scene, learnt by heart: far better than after two steps.
    assert after["pixel_accuracy"] > before["pixel_accuracy"] + 0.2, (before["pixel_accuracy"], after)
    assert {"road", "building", "car"} <= set(after["per_class_iou"])
    for output in ("segmentation.safetensors", "checkpoint.pt", "confusion.png", "curves.png"):
        assert (run / output).stat().st_size > 0


def test_fine_tuning_from_a_missing_or_foreign_file_is_a_clear_error(cityscapes_splits: Path, tmp_path: Path) -> None:
    common = ["train", "segmentation", "--data", str(cityscapes_splits), "--out", str(tmp_path / "r")]
    result = kvision(*common, "--init", "nope.st")
    assert result.returncode == 2 and "--init: no such weights file: nope.st" in result.stderr
    text = tmp_path / "notes.safetensors"
    text.write_text("not weights")
    result = kvision(*common, "--height", "128", "--width", "256", "--init", str(text))
    assert result.returncode == 2 and "not readable as safetensors" in result.stderr
    assert "Traceback" not in result.stderr
