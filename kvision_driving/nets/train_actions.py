"""Train the action network on clips exported by ``kvision dataset actions``.

Read top to bottom: configuration, data (clips resized once into memory), augmentation (the same
geometry and colour for every frame of a clip; a mirrored clip swaps left and right), class-balanced
sampling, the loop (AdamW, cosine schedule, checkpoints, resume), evaluation (accuracy, per-class
recall, confusion matrix). ``frames=1`` trains the single-frame baseline on the last frame only, to
show what the temporal part is worth. Weights are saved with safetensors; no pickle anywhere.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from safetensors.torch import save_file
from tqdm import tqdm

from kvision_driving.core.actions import ACTION_ID, ACTIONS
from kvision_driving.nets.actions import CLIP_FRAMES, CROP_SIZE, ActionNet
from kvision_driving.nets.checkpoints import resume, save_checkpoint
from kvision_driving.nets.distributed import (
    ALONE,
    Ranks,
    as_ranks,
    data_parallel,
    threads_per_rank,
    training_steps,
    with_global_batch_layers,
)
from kvision_driving.nets.plots import plot_confusion, plot_curves
from kvision_driving.nets.reproducible import seed_everything

MEAN = (0.45, 0.45, 0.45)  # RGB on 0..1; one grey level for every channel (lights are colour: do not skew it)
STD = (0.25, 0.25, 0.25)
MIRRORED = {ACTION_ID["signal_left"]: ACTION_ID["signal_right"], ACTION_ID["signal_right"]: ACTION_ID["signal_left"]}
BLINKING = {ACTION_ID["signal_left"], ACTION_ID["signal_right"], ACTION_ID["hazard"]}


@dataclass
class ActionTrainConfig:
    data: Path  # the folder with train/ and val/ from ``kvision dataset actions``
    out: Path
    frames: int = CLIP_FRAMES  # 1: the single-frame baseline (last frame only)
    crop: int = CROP_SIZE
    batch_size: int = 32
    iterations: int = 3000
    lr: float = 3e-3
    weight_decay: float = 1e-4
    velocity_noise: float = 0.3  # m/s, what a lidar tracker's velocity estimate is off by
    freeze_probability: float = 0.2  # blinking clips frozen on one frame: a steady lamp is no indicator
    eval_every: int = 500
    seed: int = 0
    threads: int = 0


@dataclass
class ClipSet:
    clips: NDArray[np.uint8]  # N x T x S x S x 3, RGB
    velocity: NDArray[np.float32]  # N x T x 2
    labels: NDArray[np.int64]  # N, index into ACTIONS
    kinds: list[str]


# --- data -----------------------------------------------------------------------------------------


def load_clips(folder: Path, crop: int, frames: int) -> ClipSet:
    """Every clip listed in ``folder/clips.csv``, its last ``frames`` frames resized to crop x crop."""
    listing = folder / "clips.csv"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found: export clips with `kvision dataset actions --out ...`")
    with listing.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{listing} lists no clips")
    clips = np.empty((len(rows), frames, crop, crop, 3), np.uint8)
    velocity = np.empty((len(rows), frames, 2), np.float32)
    labels = np.empty(len(rows), np.int64)
    for index, row in enumerate(tqdm(rows, desc=f"loading {folder.name}", unit="clip")):
        with np.load(folder / row["path"]) as archive:
            clip, clip_velocity = archive["clip"][-frames:], archive["velocity"][-frames:]
        for t, image in enumerate(clip):
            clips[index, t] = cv2.resize(image, (crop, crop), interpolation=cv2.INTER_AREA)
        velocity[index] = clip_velocity
        labels[index] = ACTION_ID[row["action"]]
    return ClipSet(clips, velocity, labels, [row["kind"] for row in rows])


def to_inputs(clips: NDArray[np.uint8], velocity: NDArray[np.float32]) -> tuple[NDArray, NDArray]:
    """N x T x S x S x 3 uint8 -> (clip N x 3 x T x S x S float32 normalised, motion N x T x 2 float32)."""
    scaled = clips.astype(np.float32) * (1.0 / 255.0)
    scaled = (scaled - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(scaled.transpose(0, 4, 1, 2, 3)), np.ascontiguousarray(velocity, dtype=np.float32)


def augment(
    clip: NDArray[np.uint8], velocity: NDArray[np.float32], label: int, config: ActionTrainConfig, rng: random.Random
) -> tuple[NDArray, NDArray, int]:
    """One geometry (scale, shift) and one colour change for the whole clip, a pixel of per-frame jitter
    (a tracker's box is never still), a mirror that swaps left/right signals, noise on the velocity; and
    hard negatives: a signalling clip frozen on one of its frames shows a steadily lit (or dark) lamp,
    which is not a signal: it becomes what the car does, moving or stopped, so the network must look
    at the blinking and not at a lit lamp."""
    if label in BLINKING and rng.random() < config.freeze_probability:
        clip = np.repeat(clip[rng.randrange(len(clip))][None], len(clip), axis=0)
        label = ACTION_ID["moving"] if float(np.hypot(*velocity[-1])) > 0.5 else ACTION_ID["stopped"]
    size = config.crop
    scale = rng.uniform(0.85, 1.15)
    shift = np.array([rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)]) * size
    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-20, 20)
    out = np.empty_like(clip)
    for t, image in enumerate(clip):
        jitter = shift + np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 0.0, scale)
        matrix[:, 2] += jitter
        warped = cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        out[t] = np.clip(warped.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    velocity = velocity + np.float32(config.velocity_noise) * np.random.default_rng(
        rng.getrandbits(32)
    ).standard_normal(velocity.shape, dtype=np.float32)
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
        velocity = velocity * np.array([1.0, -1.0], np.float32)
        label = MIRRORED.get(label, label)
    return out, velocity, label


def sampling_weights(labels: NDArray[np.int64]) -> NDArray[np.float64]:
    """Each class drawn about equally often: weight 1 / count per clip (rare classes are the point)."""
    counts = np.bincount(labels, minlength=len(ACTIONS)).astype(np.float64)
    weights = 1.0 / np.maximum(counts[labels], 1.0)
    return weights / weights.sum()


# --- evaluation -----------------------------------------------------------------------------------


@torch.inference_mode()
def predict(model: torch.nn.Module, data: ClipSet, batch: int = 64) -> NDArray[np.float32]:
    """Class probabilities N x classes."""
    model.eval()
    scores = []
    for start in range(0, len(data.labels), batch):
        clip, motion = to_inputs(data.clips[start : start + batch], data.velocity[start : start + batch])
        scores.append(torch.softmax(model(torch.from_numpy(clip), torch.from_numpy(motion)), dim=1).numpy())
    return np.concatenate(scores)


def classification_metrics(predicted: NDArray[np.int64], truth: NDArray[np.int64]) -> dict[str, object]:
    """Accuracy, per-class recall (classes present in the truth) and the confusion matrix."""
    classes = len(ACTIONS)
    confusion = np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    support = confusion.sum(1)
    recall = {ACTIONS[c]: round(float(confusion[c, c] / support[c]), 4) for c in range(classes) if support[c] > 0}
    return {
        "accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "per_class_recall": recall,
        "min_recall": min(recall.values()) if recall else 0.0,
        "support": {ACTIONS[c]: int(support[c]) for c in range(classes) if support[c] > 0},
        "confusion": confusion.tolist(),
    }


def evaluate(model: torch.nn.Module, data: ClipSet) -> dict[str, object]:
    return classification_metrics(predict(model, data).argmax(1), data.labels)


# --- training -------------------------------------------------------------------------------------


def cosine_lr(base: float, step: int, total: int, warmup: int = 100) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def training_step(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    clip: torch.Tensor,
    motion: torch.Tensor,
    targets: torch.Tensor,
    ranks: Ranks = ALONE,
) -> float:
    """One optimiser step on this process's share of the batch; returns the whole batch's loss. A mean over
    equal shares: DDP's average of the processes' gradients is the gradient of the whole batch."""
    loss = F.cross_entropy(network(clip, motion), targets, label_smoothing=0.05)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(ranks.sum(loss.detach()) / ranks.world)


def train(config: ActionTrainConfig) -> dict[str, object]:
    """Train as one process, or as one of several (torchrun, or ``nets.distributed.spawn``); the first
    process writes checkpoints, weights and metrics and returns the summary, the others return {}."""
    return as_ranks(train_ranks, config)


def train_ranks(config: ActionTrainConfig, ranks: Ranks) -> dict[str, object]:
    share = ranks.share(config.batch_size)  # the batch must divide among the processes
    seed_everything(config.seed, threads_per_rank(config.threads, ranks))
    config.out.mkdir(parents=True, exist_ok=True)
    train_set = load_clips(config.data / "train", config.crop, config.frames)
    val_set = load_clips(config.data / "val", config.crop, config.frames)
    model = ActionNet(len(ACTIONS))
    if ranks.world > 1:
        with_global_batch_layers(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "accuracy": []}
    checkpoint_path = config.out / "checkpoint.pt"
    start, history = resume(checkpoint_path, model, optimizer, history, announce=ranks.main)
    network = data_parallel(model, ranks)
    picker = np.random.default_rng(config.seed + start)
    draw = sampling_weights(train_set.labels)
    progress = training_steps(start, config.iterations, ranks)
    for step in progress:
        network.train()
        # Every process draws the whole batch and augments its share; each clip's augmentation is seeded
        # by its place in the batch, so it is the same whichever process makes it.
        chosen = picker.choice(len(train_set.labels), size=config.batch_size, p=draw)
        batch = [
            augment(train_set.clips[i], train_set.velocity[i], int(train_set.labels[i]), config,
                    random.Random(f"{config.seed}:{step}:{place}"))
            for place, i in list(enumerate(chosen))[share]
        ]  # fmt: skip
        clip, motion = to_inputs(np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]))
        targets = torch.tensor([b[2] for b in batch], dtype=torch.int64)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(config.lr, step, config.iterations)
        batch_mean = training_step(network, optimizer, torch.from_numpy(clip), torch.from_numpy(motion), targets, ranks)
        if not math.isfinite(batch_mean):
            raise FloatingPointError(f"loss became {batch_mean} at iteration {step}")
        history["step"].append(step)
        history["loss"].append(batch_mean)
        progress.set_postfix(loss=f"{batch_mean:.3f}")
        if (step + 1) % config.eval_every == 0 or step + 1 == config.iterations:
            if ranks.main:
                metrics = evaluate(model, val_set)
                history["eval_step"].append(step + 1)
                history["accuracy"].append(metrics["accuracy"])
                progress.write(
                    f"iteration {step + 1}: val accuracy {metrics['accuracy']:.4f}, "
                    f"min recall {metrics['min_recall']:.3f}"
                )
                save_checkpoint(checkpoint_path, model, optimizer, step + 1, history)
            ranks.wait_for_all()
    if not ranks.main:
        return {}
    metrics = evaluate(model, val_set)
    save_file(model.state_dict(), str(config.out / "actions.safetensors"))
    plot_confusion(
        np.array(metrics["confusion"]),
        list(ACTIONS),
        f"Actions, {config.frames}-frame clips (row-normalised)",
        config.out / "confusion.png",
    )
    plot_curves(history, "accuracy", "validation accuracy", config.out / "curves.png")
    summary = {
        "config": {key: str(value) for key, value in asdict(config).items()},
        "metrics": metrics,
        "train_clips": len(train_set.labels),
        "val_clips": len(val_set.labels),
    }
    (config.out / "metrics.json").write_text(json.dumps(summary, indent=2))
    return summary
