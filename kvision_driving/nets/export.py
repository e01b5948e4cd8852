"""ONNX export with a model card, checked against torch before the card is written."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.torch import load_file

from kvision_driving.core.labels import CLASS_NAMES
from kvision_driving.inference.model_card import InputSpec, ModelCard, sha256_of, write_card
from kvision_driving.nets.segmentation import FastSCNN, SegmentationHead, parameter_count
from kvision_driving.nets.train_segmentation import MEAN, STD

OPSET = 17


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> None:
    """Export with the TorchScript-based exporter (fixed spatial size, dynamic batch), then check the graph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_name],
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)))


def export_segmentation(
    weights: Path, out: Path, metrics_path: Path | None = None, height: int = 384, width: int = 640, command: str = ""
) -> Path:
    if height % 128 or width % 128:
        raise ValueError(f"input {height}x{width}: height and width must be multiples of 128 (pyramid pooling at 1/32)")
    network = FastSCNN()
    network.load_state_dict(load_file(str(weights)))
    head = SegmentationHead(network).eval()
    example = torch.randn(2, 3, height, width)
    export_onnx(
        head,
        example,
        out,
        "image",
        ["labels", "confidence"],
        {"image": {0: "batch"}, "labels": {0: "batch"}, "confidence": {0: "batch"}},
    )
    # torch and ONNX Runtime must agree before the model is shipped.
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    labels, confidence = session.run(None, {"image": example.numpy()})
    with torch.inference_mode():
        torch_labels, torch_confidence = head(example)
    agreement = float(np.mean(labels == torch_labels.numpy()))
    if agreement < 0.999 or not np.allclose(confidence, torch_confidence.numpy(), atol=1e-4):
        raise RuntimeError(f"ONNX Runtime disagrees with torch (label agreement {agreement:.5f})")
    # The weights travel with the ONNX file, so the torch backend runs the very same model.
    shipped_weights = out.with_name(out.name.removesuffix(".onnx") + ".safetensors")
    if shipped_weights.resolve() != weights.resolve():
        shutil.copyfile(weights, shipped_weights)
    metrics = json.loads(metrics_path.read_text()) if metrics_path and metrics_path.exists() else {}
    summary = metrics.get("metrics", {})
    card = ModelCard(
        name="kvision segmentation (Fast-SCNN style)",
        task="segmentation",
        file=out.name,
        sha256="",
        input=InputSpec(name="image", shape=[3, height, width], mean=list(MEAN), std=list(STD)),
        outputs={
            "labels": "int32 N x H x W, Cityscapes train id per pixel",
            "confidence": "float32 N x H x W, softmax probability of that class",
        },
        classes=list(CLASS_NAMES),
        training={
            "data": metrics.get("config", {}).get("data", "simulator export (kvision dataset segmentation)"),
            "command": command,
            "parameters": parameter_count(network),
            "train_images": metrics.get("train_images"),
            "val_images": metrics.get("val_images"),
            "iterations": metrics.get("config", {}).get("iterations"),
            "seed": metrics.get("config", {}).get("seed"),
            "opset": OPSET,
            "torch": {
                "architecture": "fast_scnn_head",
                "weights": shipped_weights.name,
                "sha256": sha256_of(shipped_weights),
            },
        },
        metrics={key: summary[key] for key in ("miou", "pixel_accuracy", "per_class_iou") if key in summary},
        notes="mIoU is over the classes present in the held-out ground truth (the simulator renders a subset "
        "of the 19 Cityscapes classes). Validation scenes use simulator seeds never used in training.",
    )
    return write_card(card, out)


def export_generator(
    weights: Path, out: Path, image_size: int = 64, metrics_path: Path | None = None, command: str = ""
) -> Path:
    """The GAN generator as ONNX (noise N x 100 -> image N x 3 x S x S in [-1, 1]) with its card."""
    from kvision_driving.nets.gan import NOISE_DIM, Generator

    generator = Generator(image_size)
    generator.load_state_dict(load_file(str(weights)))
    example = torch.randn(2, NOISE_DIM, 1, 1)  # the card's [100, 1, 1] input
    export_onnx(generator.eval(), example, out, "noise", ["image"], {"noise": {0: "batch"}, "image": {0: "batch"}})
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (images,) = session.run(None, {"noise": example.numpy()})
    with torch.inference_mode():
        reference = generator(example).numpy()
    if not np.allclose(images, reference, atol=1e-4):
        raise RuntimeError("ONNX Runtime disagrees with torch for the generator")
    metrics = json.loads(metrics_path.read_text()) if metrics_path and metrics_path.exists() else {}
    card = ModelCard(
        name=f"kvision DCGAN generator {image_size}x{image_size}",
        task="gan",
        file=out.name,
        sha256="",
        input=InputSpec(name="noise", shape=[NOISE_DIM, 1, 1], mean=[0.0], std=[1.0], scale=1.0),
        outputs={"image": f"float32 N x 3 x {image_size} x {image_size}, RGB in [-1, 1]"},
        classes=[],
        training={"command": command, "config": metrics.get("config", {})},
        metrics={
            "frechet_by_epoch": metrics.get("frechet"),
            "sample_diversity": metrics.get("sample_diversity"),
            "real_diversity": metrics.get("real_diversity"),
        },
        notes="Frechet distance on 128-d features of the segmentation network's encoder (not Inception FID).",
    )
    return write_card(card, out)
