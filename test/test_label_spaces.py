"""Datasets in their own label spaces: the covers table, dataset specs and folder detection, the covered-class
loss (by hand), and fitting any camera to the network without stretching."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from conftest import SHARED_DATA

from kvision_driving.core.image_fit import fit_letterbox, fit_pixels
from kvision_driving.core.label_spaces import CITYSCAPES, LabelSpace, LabelSpaceError
from kvision_driving.core.labels import CLASS_NAMES, IGNORE, TRAIN_ID
from kvision_driving.data.cityscapes import DatasetError
from kvision_driving.data.segmentation_sets import find_images, load_labelled, load_spec, spec_for
from kvision_driving.nets.losses import covered_nll

CAMVID = SHARED_DATA / "camvid"


def camvid_space() -> LabelSpace:
    return load_spec("camvid").label_space


def test_camvid_covers_every_cityscapes_class_once_and_maps_predictions_exactly() -> None:
    space = camvid_space()
    assert space.classes[8] == "car" and space.classes[10] == "bicyclist" and space.ignore_ids == (11,)
    matrix = space.cover_matrix()
    assert matrix.sum(axis=0).tolist() == [1] * len(CLASS_NAMES)  # a partition of the 19 classes
    prediction = np.array([[TRAIN_ID[name] for name in ("truck", "bus", "rider", "motorcycle", "wall", "terrain")]])
    mapped = space.from_train_ids(prediction)
    assert [space.classes[i] for i in mapped[0]] == ["car", "car", "bicyclist", "bicyclist", "building", "tree"]
    labels = space.label_table()[np.array([0, 10, 11, 12, 200], np.uint8)]
    assert labels.tolist() == [0, 10, IGNORE, IGNORE, IGNORE]


def test_a_space_that_leaves_classes_out_scores_them_as_no_class() -> None:
    space = LabelSpace.from_names("roads", {"road": ["road"], "vehicle": ["car", "truck"]})
    assert space.from_train_ids(np.array([TRAIN_ID["road"], TRAIN_ID["truck"], TRAIN_ID["sky"]])).tolist() == [0, 1, 2]


def test_label_spaces_refuse_what_cannot_be_scored() -> None:
    with pytest.raises(LabelSpaceError, match="covered by both"):
        LabelSpace.from_names("bad", {"a": ["car"], "b": ["car", "truck"]})
    with pytest.raises(LabelSpaceError, match="'lorry' is not a Cityscapes class"):
        LabelSpace.from_names("bad", {"a": ["lorry"]})
    with pytest.raises(LabelSpaceError, match="covers no train id"):
        LabelSpace("bad", ("a",), ((),))


def test_folders_are_recognised_and_specs_come_from_files(tmp_path: Path) -> None:
    if not CAMVID.is_dir():
        pytest.skip(f"{CAMVID} is missing")
    assert spec_for(CAMVID).name == "camvid"
    assert spec_for(SHARED_DATA / "cityscapes").name == "cityscapes"
    items = find_images(CAMVID, "val", spec_for(CAMVID))
    assert len(items) == 101
    rgb, labels = load_labelled(items[0], spec_for(CAMVID))
    assert rgb.shape == (360, 480, 3) and labels.shape == (360, 480)
    assert set(np.unique(labels)) <= set(range(11)) | {IGNORE} and IGNORE in labels  # 11 = unlabelled, ignored
    # A folder of one's own: a spec file next to it, named by kvision_dataset.yaml.
    own = tmp_path / "own"
    (own / "val").mkdir(parents=True)
    (own / "val_labels").mkdir()
    (own / "val" / "a.png").symlink_to(items[0].image)
    (own / "val_labels" / "a.png").symlink_to(items[0].labels)
    (own / "spec.yaml").write_text(
        "name: mine\nlayout: paired_folders\nimages: '{split}'\nlabels: '{split}_labels'\n"
        "classes:\n  sky: sky\n  everything: [building, wall]\n"
    )
    (own / "kvision_dataset.yaml").write_text("spec: spec.yaml\n")
    spec = spec_for(own)
    assert spec.name == "mine" and spec.label_space.classes == ("sky", "everything")
    _, mine = load_labelled(find_images(own, "val", spec)[0], spec)
    np.testing.assert_array_equal(mine == 0, labels == 0)  # sky stays class 0; ids >= 2 are unknown: ignored
    assert set(np.unique(mine)) == {0, 1, IGNORE}
    with pytest.raises(DatasetError, match="not a recognised dataset layout"):
        spec_for(tmp_path)
    (own / "kvision_dataset.yaml").write_text("spec: nosuch\n")
    with pytest.raises(DatasetError, match="no dataset spec 'nosuch'"):
        spec_for(own)


def test_covered_loss_by_hand() -> None:
    """One pixel, three network classes, a dataset class covering the first two."""
    logits = torch.tensor([1.0, 2.0, 0.5]).reshape(1, 3, 1, 1).requires_grad_()
    covers = torch.tensor([[True, True, False], [False, False, True]])
    loss = covered_nll(logits, torch.tensor([[[0]]]), covers)
    total = math.exp(1.0) + math.exp(2.0) + math.exp(0.5)
    assert loss.item() == pytest.approx(-math.log((math.exp(1.0) + math.exp(2.0)) / total), rel=1e-6)
    loss.backward()  # d/dl_c = p_c - p_c / P(cover) inside the cover, p_c outside it
    p = np.exp([1.0, 2.0, 0.5]) / total
    np.testing.assert_allclose(
        logits.grad.flatten().numpy(), [p[0] - p[0] / p[:2].sum(), p[1] - p[1] / p[:2].sum(), p[2]], rtol=1e-5
    )
    # The other dataset class covers class 2 alone: plain cross entropy of it.
    alone = covered_nll(logits, torch.tensor([[[1]]]), covers)
    assert alone.item() == pytest.approx(-math.log(p[2]), rel=1e-6)


def test_covered_loss_weights_ignores_and_equals_cross_entropy_on_fine_labels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 19, 6, 5) * 4
    target = torch.randint(0, 19, (2, 6, 5))
    target[0, :2] = IGNORE
    weights = torch.rand(19)
    identity = torch.from_numpy(CITYSCAPES.cover_matrix())
    expected = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    torch.testing.assert_close(covered_nll(logits, target, identity, weights), expected)
    # Coarse labels: the same number by brute force, probability sums over each cover.
    covers = torch.from_numpy(camvid_space().cover_matrix())
    coarse = torch.randint(0, 11, (2, 6, 5))
    coarse[1, 3:] = IGNORE
    coarse_weights = torch.rand(11)
    covered = torch.einsum("nchw,kc->nkhw", logits.softmax(1), covers.double().float())
    valid = coarse != IGNORE
    safe = torch.where(valid, coarse, 0)
    nll = -torch.log(covered.gather(1, safe[:, None]))[:, 0]
    pixel_weights = coarse_weights[safe] * valid
    expected = (nll * pixel_weights).sum() / pixel_weights.sum()
    torch.testing.assert_close(covered_nll(logits, coarse, covers, coarse_weights), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"targets outside 0\.\.10"):
        covered_nll(logits, torch.full((2, 6, 5), 11), covers)


@pytest.mark.parametrize(
    ("height", "width"),
    [(375, 1242), (360, 480), (1080, 1920), (384, 640), (514, 616), (100, 2000)],
)
def test_any_camera_fits_without_stretching(height: int, width: int) -> None:
    fit = fit_pixels(height, width, 640 * 384)
    assert fit.input_height % 32 == 0 and fit.input_width % 32 == 0
    assert fit.scaled_height % 4 == 0 and fit.scaled_width % 4 == 0
    assert fit.scaled_height <= fit.input_height < fit.scaled_height + 32
    assert fit.scaled_width <= fit.input_width < fit.scaled_width + 32
    # Aspect ratio kept to the 4-pixel rounding; about the nominal pixel count.
    assert abs(fit.scaled_width / fit.scaled_height - width / height) <= 4.5 * (width / height) / fit.scaled_height
    assert 0.9 < fit.scaled_height * fit.scaled_width / (640 * 384) < 1.1
    box = fit_letterbox(height, width, 384, 640)
    assert box.input_height == 384 and box.input_width == 640
    assert box.scaled_height <= 384 and box.scaled_width <= 640
    assert max(box.scaled_height / 384, box.scaled_width / 640) > 0.98  # fills one side
    # The image's part of a quarter-resolution output.
    rows, cols = fit.output_region(fit.input_height // 4, fit.input_width // 4)
    assert (rows, cols) == (fit.scaled_height // 4, fit.scaled_width // 4)


def test_the_deployed_frame_is_the_nominal_input() -> None:
    fit = fit_pixels(384, 640, 640 * 384)
    assert (fit.scaled_height, fit.scaled_width, fit.input_height, fit.input_width) == (384, 640, 384, 640)
    with pytest.raises(ValueError, match="cannot fit"):
        fit_pixels(0, 640, 640 * 384)


def test_commands_refuse_folders_they_cannot_read_with_the_reason(tmp_path: Path) -> None:
    import subprocess
    import sys

    kvision = str(Path(sys.executable).parent / "kvision")
    (tmp_path / "empty").mkdir()
    for command in (
        [kvision, "eval", "segmentation", "--data", str(tmp_path / "empty")],
        [kvision, "train", "segmentation", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")],
    ):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "not a recognised dataset layout" in result.stderr, result.stderr[-500:]
        assert "Traceback" not in result.stderr
    result = subprocess.run(
        [kvision, "eval", "segmentation", "--data", str(CAMVID), "--split", "test"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "test" in result.stderr and "does not exist" in result.stderr
    result = subprocess.run(
        [kvision, "eval", "segmentation", "--data", str(CAMVID), "--spec", "nosuch"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "no dataset spec 'nosuch'" in result.stderr


def test_label_space_errors_name_the_space_the_class_and_the_train_id_exactly() -> None:
    with pytest.raises(LabelSpaceError, match=r"^toy: 2 classes but 1 covers$"):
        LabelSpace("toy", ("road", "car"), ((0,),))
    with pytest.raises(LabelSpaceError, match=r"^toy: class 'thing' covers 19, not a train id$"):
        LabelSpace("toy", ("road", "thing"), ((0,), (19,)))  # 19 classes: ids 0..18
    LabelSpace("toy", ("road", "bicycle"), ((0,), (18,)))  # the last train id is one
    with pytest.raises(LabelSpaceError, match=r"^toy: 'car' is covered by both 'vehicle' and 'auto'$"):
        LabelSpace("toy", ("vehicle", "auto"), ((TRAIN_ID["car"],), (TRAIN_ID["car"],)))
    everything = ", ".join(CLASS_NAMES)
    with pytest.raises(LabelSpaceError) as caught:
        LabelSpace.from_names("toy", {"road": ["road"], "lorry": ["lorry"]})
    assert str(caught.value) == f"toy: 'lorry' is not a Cityscapes class ({everything})"
    assert LabelSpace.from_names("toy", {"road": ["road"]}).name == "toy"


def test_label_space_tables_are_256_bytes_and_the_matrix_is_boolean() -> None:
    space = LabelSpace("toy", ("road", "vehicle"), ((TRAIN_ID["road"],), (TRAIN_ID["car"], TRAIN_ID["truck"])))
    matrix = space.cover_matrix()
    assert matrix.dtype == np.bool_ and matrix.shape == (2, len(CLASS_NAMES)) and matrix.sum() == 3
    for table in (space.prediction_table(), space.label_table()):
        assert table.dtype == np.uint8 and table.shape == (256,)
    prediction = space.from_train_ids(np.array([[TRAIN_ID["truck"], TRAIN_ID["sky"], TRAIN_ID["road"]]]))
    assert prediction.dtype == np.uint8 and prediction.tolist() == [[1, 2, 0]]  # sky: 2, "no class"
