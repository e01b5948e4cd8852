"""Train the segmentation network on a Cityscapes-layout folder (simulator export or real Cityscapes).

Read top to bottom: configuration, data and augmentation, class-balanced loss, the loop
(AdamW, poly schedule, checkpoints, resume), evaluation (per-class IoU, confusion matrix, curves).
Weights are saved with safetensors and checkpoints load with ``torch.load(weights_only=True)``:
no pickle anywhere.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from kvision_driving.core.labels import CLASS_NAMES, IGNORE
from kvision_driving.data.cityscapes import find_samples, load_sample
from kvision_driving.nets.checkpoints import resume, save_checkpoint
from kvision_driving.nets.plots import plot_confusion, plot_curves
from kvision_driving.nets.reproducible import seed_everything
from kvision_driving.nets.segmentation import NUM_CLASSES, FastSCNN

MEAN = (0.485, 0.456, 0.406)  # RGB, on 0..1 (ImageNet statistics, the usual choice for Cityscapes models)
STD = (0.229, 0.224, 0.225)


@dataclass
class TrainConfig:
    data: Path
    out: Path
    input_height: int = 384  # the deployed input size (multiples of 32); evaluation runs at this size
    input_width: int = 640
    crop: int = 320  # square training crops after random scaling
    batch_size: int = 8
    iterations: int = 3000
    lr: float = 4e-3
    weight_decay: float = 1e-4
    scale_range: tuple[float, float] = (0.6, 1.4)
    eval_every: int = 500
    seed: int = 0
    threads: int = 0  # 0: torch's default
    max_train_images: int = 0  # 0: all
    rare_class_sampling: bool = True  # draw images with rare classes (cyclists, poles, signs) more often
    init_weights: Path | None = None  # fine-tune from these safetensors (a checkpoint in ``out`` still wins)
    extra: dict[str, str] = field(default_factory=dict)


# --- data -----------------------------------------------------------------------------------------


def normalise(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, as the exported model expects."""
    image = rgb.astype(np.float32) / 255.0
    image = (image - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def load_split(root: Path, split: str, size: tuple[int, int], limit: int = 0) -> tuple[NDArray, NDArray]:
    """Every sample of a split resized to (height, width): images (N, H, W, 3), labels (N, H, W)."""
    samples = find_samples(root, split)
    if limit:
        samples = samples[:: max(1, len(samples) // limit)][:limit]
    height, width = size
    images = np.empty((len(samples), height, width, 3), np.uint8)
    labels = np.empty((len(samples), height, width), np.uint8)
    for index, sample in enumerate(tqdm(samples, desc=f"loading {split}", unit="img")):
        rgb, train_ids = load_sample(sample)
        images[index] = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        labels[index] = cv2.resize(train_ids, (width, height), interpolation=cv2.INTER_NEAREST)
    return images, labels


def augment(
    rgb: NDArray[np.uint8], labels: NDArray[np.uint8], config: TrainConfig, rng: random.Random
) -> tuple[NDArray, NDArray]:
    """Random scale, crop (padding with ignore), horizontal flip and colour jitter, with OpenCV."""
    scale = rng.uniform(*config.scale_range)
    height, width = labels.shape
    size = (max(int(width * scale), 1), max(int(height * scale), 1))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    labels = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    crop = config.crop
    pad_h, pad_w = max(crop - labels.shape[0], 0), max(crop - labels.shape[1], 0)
    if pad_h or pad_w:
        rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        labels = cv2.copyMakeBorder(labels, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=IGNORE)
    top = rng.randint(0, labels.shape[0] - crop)
    left = rng.randint(0, labels.shape[1] - crop)
    rgb, labels = rgb[top : top + crop, left : left + crop], labels[top : top + crop, left : left + crop]
    if rng.random() < 0.5:
        rgb, labels = rgb[:, ::-1], labels[:, ::-1]
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1] *= rng.uniform(0.75, 1.25)
    hsv[..., 2] = hsv[..., 2] * rng.uniform(0.7, 1.3) + rng.uniform(-15, 15)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    return rgb, np.ascontiguousarray(labels)


def image_sampling_weights(labels: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Per-image draw probability: images showing rare classes (by pixel share over the set) come up more,
    up to 5x, so a class seen in few images is not learnt from a handful of draws."""
    counts = np.bincount(labels[labels != IGNORE].ravel(), minlength=256)[:NUM_CLASSES].astype(np.float64)
    rarity = np.sqrt(np.median(counts[counts > 0]) / np.maximum(counts, 1.0))
    weights = np.ones(len(labels))
    for index, image in enumerate(labels):
        present = np.unique(image[image != IGNORE])
        weights[index] = np.clip(rarity[present].max(initial=1.0), 1.0, 5.0)
    return weights / weights.sum()


def class_weights(labels: NDArray[np.uint8]) -> torch.Tensor:
    """ENet weighting 1 / ln(1.02 + p): rare classes (poles, signs, people) count more, bounded."""
    counts = np.bincount(labels[labels != IGNORE].ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES].astype(np.float64)
    frequency = counts / max(counts.sum(), 1.0)
    weights = 1.0 / np.log(1.02 + frequency)
    weights[counts == 0] = 0.0
    return torch.tensor(weights, dtype=torch.float32)


# --- evaluation -----------------------------------------------------------------------------------


def confusion_matrix(prediction: NDArray, truth: NDArray, classes: int = NUM_CLASSES) -> NDArray[np.int64]:
    valid = truth != IGNORE
    return np.bincount(
        truth[valid].astype(np.int64) * classes + prediction[valid], minlength=classes * classes
    ).reshape(classes, classes)


def iou_from_confusion(confusion: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per-class IoU and which classes are present in the ground truth (the ones mIoU averages)."""
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = confusion.sum(1) > 0
    iou = np.divide(true_positive, union, out=np.zeros_like(true_positive), where=union > 0)
    return iou, present


@torch.inference_mode()
def predict(model: torch.nn.Module, images: NDArray[np.uint8], batch: int = 4) -> NDArray[np.uint8]:
    model.eval()
    predictions = []
    for start in range(0, len(images), batch):
        tensor = torch.from_numpy(np.stack([normalise(image) for image in images[start : start + batch]]))
        predictions.append(model(tensor).argmax(1).to(torch.uint8).numpy())
    return np.concatenate(predictions)


def evaluate(model: torch.nn.Module, images: NDArray, labels: NDArray) -> dict[str, object]:
    confusion = confusion_matrix(predict(model, images), labels)
    iou, present = iou_from_confusion(confusion)
    return {
        "miou": float(iou[present].mean()),
        "per_class_iou": {CLASS_NAMES[c]: round(float(iou[c]), 4) for c in np.flatnonzero(present)},
        "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "confusion": confusion.tolist(),
    }


# --- training -------------------------------------------------------------------------------------


def poly_lr(base: float, step: int, total: int, power: float = 0.9, warmup: int = 100) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * (1 - (step - warmup) / max(total - warmup, 1)) ** power


class InitialWeightsError(ValueError):
    """Weights to fine-tune from that cannot be read or do not fit the network."""


def load_initial_weights(model: torch.nn.Module, weights: Path) -> None:
    """Fine-tuning start: every tensor in ``weights`` must fit the model; modules the file lacks
    (added since it was trained) keep their initialisation, and are named."""
    try:
        tensors = load_file(str(weights))
    except Exception as error:  # safetensors raises its own types, and OSError
        raise InitialWeightsError(f"{weights}: not readable as safetensors ({error})") from error
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:  # a tensor of the wrong shape
        reason = str(error).splitlines()[-1].strip()
        raise InitialWeightsError(f"{weights}: does not fit the network: {reason}") from error
    if unexpected:
        raise InitialWeightsError(f"{weights}: tensors the network does not have: {', '.join(unexpected[:5])}")
    if missing:
        modules = sorted({name.split(".")[0] for name in missing})
        tqdm.write(f"initialised from {weights}; new since then: {', '.join(modules)}")


def train(config: TrainConfig) -> dict[str, object]:
    seed_everything(config.seed, config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    size = (config.input_height, config.input_width)
    train_images, train_labels = load_split(config.data, "train", size, config.max_train_images)
    val_images, val_labels = load_split(config.data, "val", size)
    model = FastSCNN()
    if config.init_weights is not None:
        load_initial_weights(model, config.init_weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = class_weights(train_labels)
    history: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "miou": []}
    checkpoint_path = config.out / "checkpoint.pt"
    start, history = resume(checkpoint_path, model, optimizer, history)
    rng = random.Random(config.seed + start)
    draw = image_sampling_weights(train_labels) if config.rare_class_sampling else None
    picker = np.random.default_rng(config.seed + start)
    progress = tqdm(range(start, config.iterations), desc="training", unit="it", initial=start, total=config.iterations)
    for step in progress:
        model.train()
        chosen = picker.choice(len(train_images), size=config.batch_size, p=draw)
        batch = [augment(train_images[i], train_labels[i], config, rng) for i in chosen]
        images = torch.from_numpy(np.stack([normalise(rgb) for rgb, _ in batch]))
        targets = torch.from_numpy(np.stack([labels for _, labels in batch]).astype(np.int64))
        for group in optimizer.param_groups:
            group["lr"] = poly_lr(config.lr, step, config.iterations)
        loss = F.cross_entropy(model(images), targets, weight=weights, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {step}")
        history["step"].append(step)
        history["loss"].append(float(loss.item()))
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % config.eval_every == 0 or step + 1 == config.iterations:
            metrics = evaluate(model, val_images, val_labels)
            history["eval_step"].append(step + 1)
            history["miou"].append(metrics["miou"])
            progress.write(f"iteration {step + 1}: val mIoU {metrics['miou']:.4f}")
            save_checkpoint(checkpoint_path, model, optimizer, step + 1, history)
    metrics = evaluate(model, val_images, val_labels)
    save_file(model.state_dict(), str(config.out / "segmentation.safetensors"))
    confusion = np.array(metrics["confusion"])
    present = np.flatnonzero(confusion.sum(1) > 0)
    plot_confusion(
        confusion[np.ix_(present, present)],
        [CLASS_NAMES[c] for c in present],
        "Segmentation confusion (row-normalised)",
        config.out / "confusion.png",
    )
    plot_curves(history, "miou", "validation mIoU", config.out / "curves.png")
    summary = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "metrics": metrics,
        "train_images": len(train_images),
        "val_images": len(val_images),
    }
    (config.out / "metrics.json").write_text(json.dumps(summary, indent=2))
    return summary
