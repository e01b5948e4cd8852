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
from kvision_driving.data.segmentation_sets import find_images, load_labelled, spec_for
from kvision_driving.nets.losses import covered_nll
from kvision_driving.nets.segmentation import NUM_CLASSES, CoarseLogitsHead, FastSCNN, load_segmentation_network
from kvision_driving.nets.train_segmentation import (
    RENDERED,
    InitialWeightsError,
    TrainConfig,
    augment,
    class_weights,
    confusion_matrix,
    iou_from_confusion,
    load_initial_weights,
    photometric,
    score_offset,
    scores,
)

CITYSCAPES = SHARED_DATA / "cityscapes"
CAMVID = SHARED_DATA / "camvid"


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


def test_score_offset_is_minus_the_log_of_each_network_classs_training_weight_by_hand() -> None:
    """Dataset classes A = network {0, 1}, B = {2}, C = {3} (absent from the data: weight 0); network class 4
    is no dataset class's. Absent and uncovered classes take the largest weight shown (8)."""
    covers = torch.tensor(
        [[1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.bool
    )  # fmt: skip
    offset = score_offset(covers, torch.tensor([2.0, 8.0, 0.0]))
    expected = -torch.log(torch.tensor([2.0, 2.0, 8.0, 8.0, 8.0]))
    torch.testing.assert_close(offset, expected)
    torch.testing.assert_close(score_offset(covers, torch.tensor([2.0, 8.0, 0.0]), strength=0.5), 0.5 * expected)
    with pytest.raises(ValueError, match="no labelled pixels"):
        score_offset(covers, torch.zeros(3))


def test_the_offset_undoes_the_class_weighting_of_the_loss() -> None:
    """Free scores fitted by the weighted, class-merging loss to pixels that are A (= network classes 0 + 1)
    70 % of the time and B (= network class 2) 30 %, with B weighted 5x: the trained scores call the pixel B
    (0.3 * 5 > 0.7 * 1); with the offset their softmax is the data's 0.7 / 0.3 again."""
    covers = torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    weights = torch.tensor([1.0, 5.0])
    targets = torch.tensor([0] * 7 + [1] * 3).view(10, 1, 1)
    scores_ = torch.zeros(1, 3, 1, 1, requires_grad=True)
    optimiser = torch.optim.LBFGS([scores_], max_iter=200)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = covered_nll(scores_.expand(10, 3, 1, 1), targets, covers, weights)
        value.backward()
        return value

    optimiser.step(loss)
    trained = torch.softmax(scores_.detach().flatten(), 0)
    assert trained[2] > 0.6  # B wins without the correction
    deployed = torch.softmax(scores_.detach().flatten() + score_offset(covers, weights), 0)
    torch.testing.assert_close(deployed[:2].sum(), torch.tensor(0.7), atol=1e-3, rtol=0)
    torch.testing.assert_close(deployed[2], torch.tensor(0.3), atol=1e-3, rtol=0)


def test_deployed_scores_add_the_offset_and_the_exported_head_folds_it_exactly() -> None:
    torch.manual_seed(2)
    network = FastSCNN().eval()
    with torch.no_grad():
        torch.nn.init.normal_(network.refine.correction.weight)
        network.score_offset.copy_(torch.linspace(-4.0, 1.0, NUM_CLASSES))
    image = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        trained = network.trained_logits(image)
        deployed = network.coarse_logits(image)
        torch.testing.assert_close(deployed, trained + network.score_offset.view(1, -1, 1, 1))
        torch.testing.assert_close(network(image), F.interpolate(trained, size=(64, 96), mode="bilinear"))
        head = CoarseLogitsHead(network)
        torch.testing.assert_close(head(image), deployed, atol=1e-5, rtol=1e-5)
    assert not head.network.score_offset.any()  # folded into the last bias: no extra addition in the graph
    torch.testing.assert_close(network.score_offset, torch.linspace(-4.0, 1.0, NUM_CLASSES))  # the original kept


def test_weights_saved_before_the_offset_load_with_none(tmp_path: Path) -> None:
    state = FastSCNN().state_dict()
    older = tmp_path / "older.safetensors"
    save_file({name: value for name, value in state.items() if name != "score_offset"}, str(older))
    assert not load_segmentation_network(older).score_offset.any()
    broken = tmp_path / "broken.safetensors"
    save_file({name: value for name, value in state.items() if name != "classifier.3.bias"}, str(broken))
    with pytest.raises(RuntimeError, match=r"classifier\.3\.bias"):
        load_segmentation_network(broken)


def test_confusion_and_iou_by_hand() -> None:
    truth = np.array([[0, 0, 1, IGNORE]], np.uint8)
    prediction = np.array([[0, 1, 1, 5]], np.uint8)
    confusion = confusion_matrix(prediction, truth, NUM_CLASSES)
    assert confusion.sum() == 3 and confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[1, 1] == 1
    iou, present = iou_from_confusion(confusion)
    assert present.tolist() == [True, True] + [False] * (NUM_CLASSES - 2)
    assert iou[0] == pytest.approx(0.5) and iou[1] == pytest.approx(0.5)
    assert not iou[2:].any()  # never predicted, never true: IoU 0, not a division by zero


def test_scores_average_the_classes_present_in_the_truth_by_hand() -> None:
    """Rows truth, columns prediction; the last row and column: train ids the dataset has no class for."""
    confusion = np.array(
        [
            [6, 2, 0, 0, 2],  # road: 6 right, 2 as car, 2 as something the dataset does not name
            [1, 3, 0, 0, 0],  # car
            [0, 0, 0, 0, 0],  # sky: absent from the truth, never predicted: not averaged
            [0, 0, 0, 1, 0],  # sign: one pixel, found: IoU 1
            [0, 0, 0, 0, 5],  # an unnamed truth row is never averaged
        ]
    )
    result = scores(confusion, ("road", "car", "sky", "sign"))
    road, car = 6 / (6 + 2 + 2 + 1), 3 / (3 + 1 + 2)  # TP / (row + column - TP)
    assert result["per_class_iou"] == {"road": round(road, 4), "car": round(car, 4), "sign": 1.0}
    assert result["miou"] == pytest.approx((road + car + 1.0) / 3)
    assert result["pixel_accuracy"] == pytest.approx((6 + 3 + 1 + 5) / 20)
    assert result["confusion"] == confusion.tolist()
    assert np.isnan(scores(np.zeros((3, 3), np.int64), ("road", "car"))["miou"])
    one_pixel = scores(np.array([[1, 0], [0, 0]]), ("road", "car"))  # a one-pixel image, right
    assert one_pixel["pixel_accuracy"] == 1.0 and one_pixel["miou"] == 1.0


def test_class_weights_favour_rare_classes_and_skip_absent_ones() -> None:
    labels = np.full((100, 100), TRAIN_ID["road"], np.uint8)
    labels[:5, :5] = TRAIN_ID["pole"]
    labels[50, :] = IGNORE
    weights = class_weights([labels], NUM_CLASSES)
    assert weights[TRAIN_ID["pole"]] > 5 * weights[TRAIN_ID["road"]]
    assert weights[TRAIN_ID["car"]] == 0.0
    assert torch.all(weights <= 1.0 / np.log(1.02) + 1e-6)


def test_augment_scales_around_the_deployed_size_crops_and_pads_with_ignore() -> None:
    rgb = np.full((40, 60, 3), 128, np.uint8)
    labels = np.full((40, 60), TRAIN_ID["road"], np.uint8)
    # Deployed at 80 x 120 (the input's pixels, aspect kept): half of that is the frame's own size.
    config = TrainConfig(data=[], out=Path("."), crop=64, scale_range=(0.5, 0.5), input_height=80, input_width=120)
    out_rgb, out_labels = augment(rgb, labels, config, random.Random(0))
    assert out_rgb.shape == (64, 64, 3) and out_labels.shape == (64, 64)
    assert (out_labels == IGNORE).sum() == 64 * 64 - 40 * 60  # the rest is padding
    assert set(np.unique(out_labels)) == {TRAIN_ID["road"], IGNORE}


def test_rendered_frames_get_a_real_cameras_noise_blur_and_exposure() -> None:
    """A flat-shaded frame comes out of the simulator's augmentation with sensor noise and soft edges."""
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, 32:] = 200
    rng = random.Random(0)
    outputs = [photometric(rgb, RENDERED, rng) for _ in range(20)]
    flat = [float(out[:, :24].std()) for out in outputs]
    assert sum(value > 1.0 for value in flat) >= 8  # noise in most of them
    profiles = [out.astype(float).mean(axis=(0, 2)) for out in outputs]  # across the edge, noise averaged out
    sharpness = [np.diff(p).max() / (p[40:].mean() - p[:24].mean()) for p in profiles]  # 1: a one-pixel step
    assert sum(value < 0.9 for value in sharpness) >= 6  # many are blurred across the edge
    means = [float(out.mean()) for out in outputs]
    assert max(means) - min(means) > 30  # exposure varies


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
    second = kvision(*common, "--iterations", "120", "--eval-every", "60")
    assert second.returncode == 0, second.stderr[-2000:]
    said = second.stdout + second.stderr
    assert "resumed from" in said and "at iteration 2" in said
    summary = json.loads((run / "metrics.json").read_text())
    after = summary["metrics"]
    assert summary["train_images"] == 1 and summary["val_images"] == 1
    # One real street scene, learnt by heart: far better than after two steps.
    assert after["pixel_accuracy"] > before["pixel_accuracy"] + 0.2, (before["pixel_accuracy"], after)
    assert {"road", "building", "car"} <= set(after["per_class_iou"])
    for output in ("segmentation.safetensors", "checkpoint.pt", "confusion_cityscapes.png", "curves.png"):
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


@pytest.fixture
def camvid_few(tmp_path: Path) -> Path:
    """Eight real CamVid training frames; three of them again as the val split (linked in place)."""
    if not CAMVID.is_dir():
        pytest.skip(f"{CAMVID} is missing")
    root = tmp_path / "camvid_few"
    names = sorted(path.name for path in (CAMVID / "train").iterdir())[::40][:8]
    for split, chosen in (("train", names), ("val", names[:3])):
        for folder in (split, f"{split}annot"):
            (root / folder).mkdir(parents=True)
            for name in chosen:
                (root / folder / name).symlink_to(CAMVID / folder.replace("val", "train") / name)
    return root


def test_training_on_real_camvid_frames_with_the_simulators_classes_beside_them(
    camvid_few: Path, cityscapes_splits: Path, tmp_path: Path
) -> None:
    """CamVid's coarse labels and Cityscapes' fine ones in one run, each scored in its own classes:
    the frames' pixel accuracy rises well above where it started."""
    run = tmp_path / "run"
    common = ["train", "segmentation", "--data", str(camvid_few), "--data", str(cityscapes_splits), "--mix", "3", "1"]
    common += ["--out", str(run), "--height", "128", "--width", "192", "--crop", "128", "--batch-size", "4"]
    common += ["--threads", "2", "--lr", "0.01", "--offset-strength", "0.75"]
    first = kvision(*common, "--iterations", "1", "--eval-every", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    before = json.loads((run / "metrics.json").read_text())["metrics_by_data"]
    second = kvision(*common, "--iterations", "160", "--eval-every", "160")
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads((run / "metrics.json").read_text())
    after = summary["metrics_by_data"]
    assert set(after) == {"camvid:camvid_few", "cityscapes:cityscapes"}
    camvid = after["camvid:camvid_few"]
    assert set(camvid["per_class_iou"]) <= {"sky", "building", "pole", "road", "pavement", "tree", "sign_symbol",
                                            "fence", "car", "pedestrian", "bicyclist"}  # fmt: skip
    assert len(camvid["confusion"]) == 12  # 11 classes and "no CamVid class"
    start = before["camvid:camvid_few"]["pixel_accuracy"]
    # 160 iterations: 0.76-0.83 measured over seeds 0-2 (at 80, 0.27-0.66: too few to learn reliably)
    assert camvid["pixel_accuracy"] > max(start + 0.2, 0.65), (start, camvid)
    assert summary["train_images"] == 8 + 1 and summary["val_images"] == 3 + 1
    assert (run / "confusion_camvid.png").stat().st_size > 0
    # The first folder (CamVid) sets the deployed offset, from its own class weights, as strong as asked.
    spec = spec_for(camvid_few)
    labels = [load_labelled(item, spec)[1] for item in find_images(camvid_few, "train", spec)]
    covers = torch.from_numpy(spec.label_space.cover_matrix())
    expected = score_offset(covers, class_weights(labels, 11), strength=0.75)
    torch.testing.assert_close(load_segmentation_network(run / "segmentation.safetensors").score_offset, expected)
    mix = kvision(*common[:-4], "--mix", "1")
    assert mix.returncode == 2 and "--mix gives 1 shares for 2 --data folders" in mix.stderr
    negative = kvision(*common, "--offset-strength", "-1")
    assert negative.returncode == 2 and "--offset-strength must be 0" in negative.stderr
