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

from kvision_driving.core.actions import ACTIONS, CYCLIST_ACTIONS, PEDESTRIAN_ACTIONS, VEHICLE_ACTIONS
from kvision_driving.core.labels import CLASS_NAMES
from kvision_driving.inference.model_card import InputSpec, ModelCard, sha256_of, write_card
from kvision_driving.nets import train_actions
from kvision_driving.nets.actions import (
    CLIP_FRAMES,
    CROP_SIZE,
    FEATURE_CHANNELS,
    FEATURE_SIZE,
    ActionNet,
    StreamingActionHead,
)
from kvision_driving.nets.segmentation import CoarseLogitsHead, load_segmentation_network, parameter_count
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
    """Export with the TorchScript-based exporter (the axes ``dynamic_axes`` names are dynamic), then check it."""
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
    if height % 32 or width % 32:
        raise ValueError(f"input {height}x{width}: height and width must be multiples of 32 (the network's stride)")
    network = load_segmentation_network(weights)
    head = CoarseLogitsHead(network).eval()
    # Any input size (multiples of 32): cameras of every aspect ratio run unstretched (core.image_fit).
    axes = {0: "batch", 2: "height", 3: "width"}
    export_onnx(head, torch.randn(2, 3, height, width), out, "image", ["logits"], {"image": axes, "logits": axes})
    # torch and ONNX Runtime must agree before the model is shipped, at the nominal size and others.
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for size in ((height, width), (288, 928), (448, 576)):
        example = torch.randn(2, 3, *size)
        (logits,) = session.run(None, {"image": example.numpy()})
        with torch.inference_mode():
            reference = head(example).numpy()
        agreement = float(np.mean(logits.argmax(axis=1) == reference.argmax(axis=1)))
        if agreement < 0.999 or not np.allclose(logits, reference, atol=1e-3):
            raise RuntimeError(f"ONNX Runtime disagrees with torch at {size} (class agreement {agreement:.5f})")
    # The weights travel with the ONNX file, so the torch backend runs the very same model.
    shipped_weights = out.with_name(out.name.removesuffix(".onnx") + ".safetensors")
    if shipped_weights.resolve() != weights.resolve():
        shutil.copyfile(weights, shipped_weights)
    metrics = json.loads(metrics_path.read_text()) if metrics_path and metrics_path.exists() else {}
    summary = metrics.get("metrics", {})
    sources = metrics.get("data") or []
    data = " + ".join(f"{d['spec']} ({d['folder']}, share {d['share']})" for d in sources) or metrics.get(
        "config", {}
    ).get("data", "simulator export (kvision dataset segmentation)")
    card = ModelCard(
        name="kvision segmentation (Fast-SCNN style)",
        task="segmentation",
        file=out.name,
        sha256="",
        input=InputSpec(name="image", shape=[3, height, width], mean=list(MEAN), std=list(STD), size_policy="pixels"),
        outputs={
            "logits": f"float32 N x {len(CLASS_NAMES)} x H/4 x W/4, class scores at a quarter of the input's "
            "resolution; full-resolution labels are the argmax of them resized bilinearly, confidence the "
            "winning class's softmax probability (perception/segmentation.py: labels_from_logits)",
        },
        classes=list(CLASS_NAMES),
        training={
            "data": data,
            "command": command,
            "parameters": parameter_count(network),
            "train_images": metrics.get("train_images"),
            "val_images": metrics.get("val_images"),
            "iterations": metrics.get("config", {}).get("iterations"),
            "seed": metrics.get("config", {}).get("seed"),
            "opset": OPSET,
            "torch": {
                "architecture": "fast_scnn_coarse_logits",
                "weights": shipped_weights.name,
                "sha256": sha256_of(shipped_weights),
            },
        },
        metrics={key: summary[key] for key in ("miou", "pixel_accuracy", "per_class_iou") if key in summary},
        notes="mIoU is over the classes present in the held-out ground truth (the simulator renders a subset "
        "of the 19 Cityscapes classes), in each data set's own classes (CamVid's 11: a prediction of truck "
        "counts as CamVid's car). Held-out data: val splits and simulator seeds never used in training.",
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


def export_actions(
    weights: Path,
    out: Path,
    metrics_path: Path | None = None,
    baseline_metrics_path: Path | None = None,
    command: str = "",
) -> Path:
    """The streaming action network as ONNX (frame N x 3 x S x S, history N x (T-1) x C x 8 x 8, motion N x T x 2
    -> scores N x classes, features N x C x 8 x 8) with its card; checked against the full-clip torch graph,
    and the single-frame baseline's metrics go in the card beside the network's."""
    network = ActionNet(len(ACTIONS))
    network.load_state_dict(load_file(str(weights)))
    network.eval()
    head = StreamingActionHead(network).eval()
    clip = torch.randn(3, 3, CLIP_FRAMES, CROP_SIZE, CROP_SIZE)
    motion = torch.randn(3, CLIP_FRAMES, 2)
    with torch.inference_mode():
        reference = torch.softmax(network(clip, motion), dim=1).numpy()
        history = network.encode(clip)[:, :, :-1].transpose(1, 2).contiguous()
    frame = clip[:, :, -1].contiguous()
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            head,
            (frame, history, motion),
            str(out),
            input_names=["frame", "history", "motion"],
            output_names=["scores", "features"],
            dynamic_axes={name: {0: "batch"} for name in ("frame", "history", "motion", "scores", "features")},
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(out)))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    scores, _ = session.run(None, {"frame": frame.numpy(), "history": history.numpy(), "motion": motion.numpy()})
    if not np.allclose(scores, reference, atol=1e-5):
        raise RuntimeError("ONNX Runtime (streaming) disagrees with torch (full clip) for the action network")
    shipped_weights = out.with_name(out.name.removesuffix(".onnx") + ".safetensors")
    if shipped_weights.resolve() != weights.resolve():
        shutil.copyfile(weights, shipped_weights)

    def summary_of(path: Path | None) -> dict:
        return json.loads(path.read_text()) if path and path.exists() else {}

    metrics, baseline = summary_of(metrics_path), summary_of(baseline_metrics_path)
    keys = ("accuracy", "min_recall", "per_class_recall", "support")
    card = ModelCard(
        name="kvision actions ((2+1)D video network)",
        task="actions",
        file=out.name,
        sha256="",
        input=InputSpec(
            name="frame", shape=[3, CROP_SIZE, CROP_SIZE], mean=list(train_actions.MEAN), std=list(train_actions.STD)
        ),
        extra_inputs={
            "history": [CLIP_FRAMES - 1, FEATURE_CHANNELS, FEATURE_SIZE, FEATURE_SIZE],
            "motion": [CLIP_FRAMES, 2],
        },
        outputs={
            "scores": f"float32 N x {len(ACTIONS)}, softmax probability of each action",
            "features": f"float32 N x {FEATURE_CHANNELS} x {FEATURE_SIZE} x {FEATURE_SIZE}, the frame encoded: keep "
            "it as the newest entry of the track's history",
        },
        classes=list(ACTIONS),
        training={
            "data": metrics.get("config", {}).get("data", "simulator clips (kvision dataset actions)"),
            "command": command,
            "parameters": parameter_count(network),
            "clip_frames": CLIP_FRAMES,
            "clip_rate_hz": 10,
            "clip_layout": "frame: the newest square crop around the projected 3D box; history: the features "
            "output for the previous T-1 crops of the same track at 10 Hz, oldest first",
            "motion": "N x T x 2: the track's ground velocity vx, vy (m/s) in base_link at each clip frame",
            "vehicle_actions": list(VEHICLE_ACTIONS),
            "pedestrian_actions": list(PEDESTRIAN_ACTIONS),
            "cyclist_actions": list(CYCLIST_ACTIONS),
            "train_clips": metrics.get("train_clips"),
            "val_clips": metrics.get("val_clips"),
            "iterations": metrics.get("config", {}).get("iterations"),
            "seed": metrics.get("config", {}).get("seed"),
            "opset": OPSET,
            "torch": {
                "architecture": "action_head",
                "weights": shipped_weights.name,
                "sha256": sha256_of(shipped_weights),
            },
        },
        metrics={
            **{key: metrics["metrics"][key] for key in keys if key in metrics.get("metrics", {})},
            "single_frame_baseline": {
                key: baseline["metrics"][key] for key in keys if key in baseline.get("metrics", {})
            },
        },
        notes="Held-out clips come from simulator seeds never used in training. Cyclists are labelled with the "
        "vehicle actions they can show (stopped, moving). The single-frame baseline is the same network trained "
        "on the last frame only: the gap to it is what the temporal part is worth.",
    )
    return write_card(card, out)
