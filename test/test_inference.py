"""inference/: model cards and integrity, backends, TensorRT's cache keys and calibration, the segmenter."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from kvision_driving.data.cityscapes import DatasetError, find_samples, load_sample
from kvision_driving.data.segmentation_sets import load_spec
from kvision_driving.inference.backends import BackendUnavailableError, auto_backend, create_backend
from kvision_driving.inference.model_card import (
    ModelIntegrityError,
    card_path_for,
    load_card,
    sha256_of,
    shipped_model,
    verified_card,
)
from kvision_driving.inference.preprocess import ImagePreprocessor
from kvision_driving.inference.tensorrt import (
    INSTALL_HINT,
    CalibrationBatches,
    engine_cache_key,
    engine_paths,
    input_profile,
    read_cached_engine,
    write_cached_engine,
)
from kvision_driving.perception.segmentation import Segmenter, labels_from_logits, to_rgb

CAMVID = SHARED_DATA / "camvid"
CAMVID = SHARED_DATA / "camvid"
CITYSCAPES = SHARED_DATA / "cityscapes"


def copy_model(model: Path, folder: Path) -> Path:
    for path in model.parent.glob(model.name.removesuffix(".onnx") + ".*"):
        shutil.copy(path, folder / path.name)
    return folder / model.name


def test_card_describes_the_model(tiny_model: Path) -> None:
    card = verified_card(tiny_model)
    assert card.task == "segmentation" and card.input.shape == [3, 128, 256]
    assert card.classes[0] == "road" and len(card.classes) == 19
    assert card.training["torch"]["architecture"] == "fast_scnn_coarse_logits"
    assert (tiny_model.parent / "segmentation.card.md").read_text().startswith("# Model card")


def test_tampered_model_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    model = copy_model(tiny_model, tmp_path)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match its model card"):
        create_backend(model, "onnxruntime")


def test_missing_or_malformed_card_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    model = copy_model(tiny_model, tmp_path)
    card = card_path_for(model)
    card.write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="malformed"):
        verified_card(model)
    card.unlink()
    with pytest.raises(ModelIntegrityError, match="not found"):
        verified_card(model)


def test_tampered_torch_weights_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    model = copy_model(tiny_model, tmp_path)
    weights = tmp_path / "segmentation.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + bytes(byte ^ 0xFF for byte in weights.read_bytes()[-8:]))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        create_backend(model, "torch")


def test_onnxruntime_and_torch_backends_agree(tiny_model: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(size=(2, 3, 128, 256)).astype(np.float32)
    ort_out = create_backend(tiny_model, "onnxruntime").backend.run({"image": image})
    torch_out = create_backend(tiny_model, "torch").backend.run({"image": image})
    assert ort_out["logits"].shape == (2, 19, 32, 64) and ort_out["logits"].dtype == np.float32
    assert np.mean(ort_out["logits"].argmax(axis=1) == torch_out["logits"].argmax(axis=1)) > 0.999
    np.testing.assert_allclose(ort_out["logits"], torch_out["logits"], atol=1e-3)


def test_auto_picks_onnxruntime_on_a_cpu_machine_and_says_why(tiny_model: Path) -> None:
    backend, reason = auto_backend()
    assert backend == "onnxruntime" and "no CUDA GPU" in reason
    choice = create_backend(tiny_model, "auto")
    assert choice.backend.name == "onnxruntime" and "CPU" in choice.reason


def test_unavailable_backends_explain_themselves(tiny_model: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        create_backend(tiny_model, "tensorrt")
    with pytest.raises(BackendUnavailableError, match="no CUDA provider"):
        create_backend(tiny_model, "onnxruntime-cuda")
    with pytest.raises(BackendUnavailableError, match="unknown backend"):
        create_backend(tiny_model, "openvino")
    assert "onnxruntime" in INSTALL_HINT


def test_engine_cache_key_changes_with_everything_that_invalidates_an_engine() -> None:
    base = dict(onnx_sha256="a" * 64, trt_version="10.3.0", gpu="Orin", precision="fp16", max_batch=16)
    key = engine_cache_key(**base)
    assert key == engine_cache_key(**base)
    for field, other in [
        ("onnx_sha256", "b" * 64),
        ("trt_version", "10.4.0"),
        ("gpu", "RTX 4090"),
        ("precision", "int8"),
        ("max_batch", 8),
    ]:
        assert engine_cache_key(**{**base, field: other}) != key, field


def test_engine_cache_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    engine, sidecar = engine_paths(tmp_path, Path("segmentation.onnx"), "k1")
    assert read_cached_engine(engine, sidecar, "k1") is None  # nothing cached yet: build
    write_cached_engine(engine, sidecar, "k1", b"serialized engine", {"gpu": "Orin"})
    assert read_cached_engine(engine, sidecar, "k1") == b"serialized engine"
    assert read_cached_engine(engine, sidecar, "k2") is None  # another key: rebuild
    assert json.loads(sidecar.read_text())["gpu"] == "Orin"
    engine.write_bytes(b"tampered engine!!")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        read_cached_engine(engine, sidecar, "k1")


def test_calibration_batches_preprocess_like_inference(tiny_model: Path, tmp_path: Path) -> None:
    card = load_card(card_path_for(tiny_model))
    rng = np.random.default_rng(2)
    for index in range(11):
        size = (120, 200, 3) if index % 2 else (375, 1242, 3)  # cameras of two shapes in one folder
        cv2.imwrite(str(tmp_path / f"frame{index:02d}.png"), rng.integers(0, 255, size, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    batches = CalibrationBatches(tmp_path, card, batch_size=4)
    collected = list(batches)
    assert len(batches) == 2 and len(collected) == 2  # 11 images: two full batches, the rest dropped
    assert collected[0].shape == (4, 3, 128, 256) and collected[0].dtype == np.float32  # one size per batch
    first = cv2.imread(str(tmp_path / "frame01.png"))[:, :, ::-1]
    expected = ImagePreprocessor(card, fixed=True)(np.ascontiguousarray(first))[0]
    np.testing.assert_allclose(collected[0][1], expected, atol=1e-5)
    # An any-size model's engine spans cameras of every shape; a fixed-size one exactly its input.
    assert card.input.size_policy == "pixels"
    low, best, high = input_profile(card, max_batch=8)
    assert low == (1, 3, 64, 64) and best == (4, 3, 128, 256) and high == (8, 3, 512, 512)
    fixed = replace(card, input=replace(card.input, size_policy="letterbox"))
    assert input_profile(fixed, max_batch=8) == ((1, 3, 128, 256), (4, 3, 128, 256), (8, 3, 128, 256))
    with pytest.raises(FileNotFoundError, match="no calibration images"):
        CalibrationBatches(tmp_path / "missing", card)


def test_preprocessor_matches_the_training_normalisation(tiny_model: Path) -> None:
    from kvision_driving.nets.train_segmentation import normalise

    card = load_card(card_path_for(tiny_model))
    image = np.random.default_rng(3).integers(0, 255, (128, 256, 3), dtype=np.uint8)
    np.testing.assert_allclose(ImagePreprocessor(card)(image)[0], normalise(image), atol=1e-5)


@pytest.mark.parametrize("shape", [(384, 640, 3), (1, 1, 3), (37, 91, 3), (720, 1280, 3)])
def test_segmenter_returns_labels_at_the_input_size(tiny_model: Path, shape: tuple[int, int, int]) -> None:
    choice = create_backend(tiny_model, "onnxruntime")
    result = Segmenter(choice.backend, choice.card)(np.zeros(shape, np.uint8))
    assert result.labels.shape == shape[:2] and result.labels.dtype == np.uint8
    assert result.confidence.shape == shape[:2] and (result.confidence <= 1.0).all()
    assert result.labels.max() < 19


def blocky_logits(classes: int, rows: int, cols: int, seed: int) -> np.ndarray:
    """Scores with regions of one class and noise, like a network's: boundaries, ties of neighbours, interiors."""
    rng = np.random.default_rng(seed)
    regions = rng.normal(size=(classes, rows // 3 + 1, cols // 3 + 1)).astype(np.float32)
    return np.repeat(np.repeat(regions, 3, axis=1), 3, axis=2)[:, :rows, :cols] + 0.1 * rng.normal(
        size=(classes, rows, cols)
    ).astype(np.float32)


@pytest.mark.parametrize(
    ("coarse", "full"),
    [((19, 96, 160), (384, 640)), ((5, 7, 9), (30, 41)), ((4, 20, 30), (13, 17)), ((3, 6, 8), (6, 8))],
)
def test_labels_from_logits_equal_the_argmax_of_the_resized_scores(
    coarse: tuple[int, int, int], full: tuple[int, int]
) -> None:
    import torch
    import torch.nn.functional as F  # noqa: N812

    logits = blocky_logits(*coarse, seed=sum(coarse))
    resized = F.interpolate(torch.from_numpy(logits)[None], size=full, mode="bilinear", align_corners=False)[0]
    expected_confidence = (1.0 / torch.exp(resized - resized.max(dim=0).values).sum(dim=0)).numpy()
    labels, confidence = labels_from_logits(logits, *full)
    assert labels.dtype == np.uint8 and labels.shape == full and confidence.shape == full
    np.testing.assert_array_equal(labels, resized.argmax(dim=0).numpy())
    # Exact where classes meet (and everywhere without resizing); resized from the coarse one inside regions.
    assert np.abs(confidence - expected_confidence).mean() < 0.005
    if full[0] >= coarse[1] and full[1] >= coarse[2]:  # upsampled: a pixel whose nearest cell lost was blended
        nearest = cv2.resize(logits.argmax(axis=0).astype(np.uint8), full[::-1], interpolation=cv2.INTER_NEAREST)
        boundary = labels != nearest
        np.testing.assert_allclose(confidence[boundary], expected_confidence[boundary], atol=1e-5)


def test_labels_from_logits_break_ties_like_argmax() -> None:
    labels, confidence = labels_from_logits(np.zeros((4, 2, 3), np.float32), 4, 6)
    assert (labels == 0).all() and np.allclose(confidence, 0.25)


def test_segmenter_labels_match_the_full_resolution_head(tiny_model: Path) -> None:
    """The shipped graph stops at a quarter of the resolution; the node's labels are still those of the network
    resized to full resolution, as the graph computed them before."""
    import torch
    from safetensors.torch import load_file

    from kvision_driving.nets.segmentation import FastSCNN, SegmentationHead

    network = FastSCNN()
    network.load_state_dict(load_file(str(tiny_model.with_suffix(".safetensors"))))
    (sample,) = find_samples(CITYSCAPES, "val")
    rgb, _ = load_sample(sample)
    choice = create_backend(tiny_model, "onnxruntime")
    segmenter = Segmenter(choice.backend, choice.card)
    result = segmenter(rgb)
    with torch.inference_mode():
        labels, confidence = SegmentationHead(network.eval())(torch.from_numpy(segmenter.preprocessor(rgb)))
    assert np.mean(result.labels == labels[0].numpy()) > 0.999
    assert np.abs(result.confidence - confidence[0].numpy()).mean() < 0.01


@pytest.mark.parametrize(("height", "width"), [(375, 1242), (360, 480), (1080, 1920)])
def test_any_camera_is_segmented_unstretched_at_its_full_resolution(
    detailed_model: Path, height: int, width: int
) -> None:
    """KITTI, CamVid and 1080p frames: scaled keeping their aspect ratio to the model's pixel count, padded, and
    the labels are the network's scores of the image part only, resized to the camera's resolution."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from safetensors.torch import load_file

    from kvision_driving.core.image_fit import fit_pixels
    from kvision_driving.nets.segmentation import FastSCNN

    (sample,) = find_samples(CITYSCAPES, "val")
    rgb = cv2.resize(load_sample(sample)[0], (width, height), interpolation=cv2.INTER_LINEAR)
    choice = create_backend(detailed_model, "onnxruntime")
    segmenter = Segmenter(choice.backend, choice.card)
    result = segmenter(rgb)
    assert result.labels.shape == (height, width) and result.confidence.shape == (height, width)
    assert len(np.unique(result.labels)) >= 4  # labels with detail: a misplaced one shows
    fit = fit_pixels(height, width, 128 * 256)
    assert segmenter.preprocessor.fit == fit and segmenter.preprocessor.batch.shape == (
        1,
        3,
        *(fit.input_height, fit.input_width),
    )
    # Independently: torch on the padded input, the scores of the image part, resized, argmax.
    network = FastSCNN().eval()
    network.load_state_dict(load_file(str(detailed_model.with_suffix(".safetensors"))))
    with torch.inference_mode():
        coarse = network.coarse_logits(torch.from_numpy(segmenter.preprocessor(rgb)))
        image_part = coarse[:, :, : fit.scaled_height // 4, : fit.scaled_width // 4]
        expected = F.interpolate(image_part, size=(height, width), mode="bilinear").argmax(1)[0].numpy()
    assert np.mean(result.labels == expected) > 0.995
    # The padding mirrors the image (what training pads with), not a grey bar.
    padded = segmenter.preprocessor.batch[0]
    if fit.input_width > fit.scaled_width:
        np.testing.assert_allclose(
            padded[:, : fit.scaled_height, fit.scaled_width], padded[:, : fit.scaled_height, fit.scaled_width - 2]
        )


def test_to_rgb_handles_every_camera_encoding() -> None:
    rgb = np.random.default_rng(4).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb(rgb[:, :, ::-1].copy(), "bgr8"), rgb)
    np.testing.assert_array_equal(to_rgb(np.dstack([rgb, np.full((4, 5), 255, np.uint8)]), "rgba8"), rgb)
    assert to_rgb(rgb[:, :, 0].copy(), "mono8").shape == (4, 5, 3)
    with pytest.raises(ValueError, match="cannot segment a 16UC1"):
        to_rgb(np.zeros((4, 5), np.uint16), "16UC1")


def test_cityscapes_sample_loads_with_train_ids_and_label_ids(tmp_path: Path) -> None:
    (sample,) = find_samples(CITYSCAPES, "val")
    assert sample.label_kind == "train_ids"
    rgb, train_ids = load_sample(sample)
    assert rgb.shape == (128, 256, 3) and train_ids.shape == (128, 256)
    # The same image with only labelIds: mapped to the same train ids.
    only_ids = tmp_path / "cs"
    for part in ("leftImg8bit", "gtFine"):
        shutil.copytree(CITYSCAPES / part, only_ids / part)
    for path in only_ids.rglob("*labelTrainIds.png"):
        path.unlink()
    (mapped_sample,) = find_samples(only_ids, "val")
    assert mapped_sample.label_kind == "label_ids"
    _, mapped = load_sample(mapped_sample)
    # The sample's two label files were downscaled separately (nearest neighbour), so a few boundary
    # pixels differ between them; the mapping itself is exact.
    assert np.mean(mapped == train_ids) > 0.995
    with pytest.raises(DatasetError, match="does not exist"):
        find_samples(tmp_path / "nowhere", "train")


def test_quantized_model_is_verified_by_its_card_and_follows_the_float_model(tiny_model: Path, tmp_path: Path) -> None:
    import onnx

    from kvision_driving.eval.segmentation import simulator_frames
    from kvision_driving.nets.quantize import quantize_model
    from kvision_driving.sim.scenario import load_scenario

    frames = [rgb for rgb, _ in simulator_frames([load_scenario("dense_traffic")], [0], every=60).frames]
    ((cityscapes_rgb, _),) = [load_sample(sample) for sample in find_samples(CITYSCAPES, "val")]
    out = tmp_path / "segmentation_int8.onnx"
    _, card = quantize_model(tiny_model, frames, out)
    assert verified_card(out).name.endswith("INT8") and card.metrics == {} and "torch" not in card.training
    assert card.training["quantization"]["calibration_frames"] == len(frames) > 3
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in onnx.load(str(out)).graph.node}
    float_model, int8_model = (create_backend(path, "onnxruntime").backend for path in (tiny_model, out))
    preprocessor = ImagePreprocessor(card)
    for rgb in (*frames, cityscapes_rgb):  # a frame of the calibration set and one it never saw
        batch = {card.input.name: preprocessor(rgb)}
        exact, quantized = (model.run(batch)["logits"].ravel() for model in (float_model, int8_model))
        assert np.corrcoef(exact, quantized)[0, 1] > 0.95
    with pytest.raises(ValueError, match="no calibration frames"):
        quantize_model(tiny_model, [], tmp_path / "none.onnx")


def test_cpu_onnxruntime_takes_the_faster_shipped_variant_everything_else_the_float_one(tmp_path: Path) -> None:
    from kvision_driving.ros.models import model_to_open

    params = {"model_path": "", "cpu_model": "int8", "threads": 0}
    assert model_to_open(params, "segmentation.onnx", "onnxruntime") == (shipped_model("segmentation_int8.onnx"),
                                                                         "cpu_model int8")  # fmt: skip
    assert model_to_open({**params, "cpu_model": "float"}, "segmentation.onnx", "onnxruntime")[0].name == (
        "segmentation.onnx"
    )
    for backend in ("torch", "tensorrt", "onnxruntime-cuda"):
        assert model_to_open(params, "segmentation.onnx", backend)[0].name == "segmentation.onnx"
    assert model_to_open(params, "actions.onnx", "onnxruntime")[0].name == "actions.onnx"  # none shipped: float
    mine = tmp_path / "mine.onnx"
    assert model_to_open({**params, "model_path": str(mine)}, "segmentation.onnx", "onnxruntime")[0] == mine
    # fastest: both measured (or read from this machine's cache), the smaller time wins, and the reason says so.
    model, why = model_to_open({**params, "cpu_model": "fastest"}, "segmentation.onnx", "onnxruntime")
    times = dict(re.findall(r"(segmentation(?:_int8)?\.onnx) ([0-9.]+) ms", why))
    assert set(times) == {"segmentation.onnx", "segmentation_int8.onnx"}, why
    assert model.name == min(times, key=lambda name: float(times[name]))


def test_the_faster_variant_is_measured_once_per_machine_and_file(tiny_model: Path, tmp_path: Path) -> None:
    from kvision_driving.inference.fastest import fastest_variant, run_ms, variant_key

    other = tmp_path / "other.onnx"  # another file (another sha256), timed by the stand-in only
    other.write_bytes(tiny_model.read_bytes() + b"another model")
    card = json.loads(card_path_for(tiny_model).read_text())
    card_path_for(other).write_text(json.dumps({**card, "file": other.name, "sha256": sha256_of(other)}))
    measured: list[str] = []

    def measure(model: Path, threads: int) -> float:
        measured.append(model.name)
        return {tiny_model.name: 12.0, other.name: 7.5}[model.name]

    cache = tmp_path / "cache" / "variants.json"
    assert fastest_variant([tiny_model, other], 2, cache, measure) == (
        other,
        {tiny_model.name: 12.0, "other.onnx": 7.5},
    )
    assert measured == [tiny_model.name, other.name]
    assert fastest_variant([tiny_model, other], 2, cache, measure)[0] == other and len(measured) == 2  # cached
    assert json.loads(cache.read_text())[variant_key(tiny_model, 2)] == 12.0
    fastest_variant([tiny_model], 1, cache, measure)  # another thread count is another measurement
    assert measured[-1] == tiny_model.name and len(measured) == 3
    cache.write_text("{not json")
    fastest_variant([tiny_model, other], 2, cache, measure)  # unreadable: measured again, rewritten
    assert len(measured) == 5 and json.loads(cache.read_text())
    assert run_ms(tiny_model, 1, runs=3) > 0.0  # the real measurement runs the model on its input shape


def test_quantize_command_writes_the_model_and_its_card_and_keeps_an_existing_one(
    tiny_model: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    out = tmp_path / "int8.onnx"
    command = [
        str(Path(sys.executable).parent / "kvision"), "quantize", str(tiny_model), "--out", str(out),
        "--scenarios", "dense_traffic", "--seeds", "0", "--every", "100", "--eval-seeds", "2000", "--eval-every", "200",
        "--data", str(CAMVID), "--data-every", "60", "--eval-data", str(CAMVID),
    ]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    report = json.loads(first.stdout)
    card = verified_card(out)
    assert report["calibration_frames"] == len(range(0, 367, 60)) + len(range(0, 300, 100))  # CamVid + simulator
    assert report["evaluation"] == card.metrics and 0.0 <= card.metrics["simulator_seeds_2000_miou"] <= 1.0
    assert card.metrics["simulator_seeds_2000_frames"] > 0
    assert card.metrics["camvid_val_frames"] == 101  # real frames, scored in CamVid's own classes
    assert set(card.metrics["camvid_val_per_class_iou"]) <= set(load_spec("camvid").label_space.classes)
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr
