"""Train the segmentation network on one or more labelled folders, each in its own label space.

Read top to bottom: configuration; data (any folder a dataset spec describes: the simulator's export,
CamVid, Cityscapes), per-domain augmentation; class-balanced losses in each dataset's own classes
(``nets.losses.covered_nll``: a coarse class is the sum of the fine ones it covers); the loop (batches
mixed across datasets in a set ratio, AdamW, poly schedule, checkpoints, resume); evaluation (every
dataset's val split in its own classes, images fitted to the deployed input exactly as the node does,
per-class IoU, confusion matrices, curves).

Weights are saved with safetensors and checkpoints load with ``torch.load(weights_only=True)``: no pickle.
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

from kvision_driving.core.image_fit import fit_pixels
from kvision_driving.core.labels import IGNORE
from kvision_driving.data.segmentation_sets import DatasetSpec, find_images, load_labelled, spec_for
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
from kvision_driving.nets.losses import covered_nll
from kvision_driving.nets.plots import plot_confusion, plot_curves
from kvision_driving.nets.reproducible import seed_everything
from kvision_driving.nets.segmentation import FastSCNN

MEAN = (0.485, 0.456, 0.406)  # RGB, on 0..1 (ImageNet statistics, the usual choice for Cityscapes models)
STD = (0.229, 0.224, 0.225)
PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    data: list[Path]  # labelled folders; each one's spec is found from the folder (data.segmentation_sets)
    out: Path
    mix: list[float] = field(default_factory=list)  # share of each folder in a batch; empty: equal shares
    input_height: int = 384  # the deployed input: evaluation fits images to this many pixels (core.image_fit)
    input_width: int = 640
    crop: int = 384  # square training crops after random scaling
    batch_size: int = 8
    iterations: int = 3000
    lr: float = 4e-3
    weight_decay: float = 1e-4
    scale_range: tuple[float, float] = (0.6, 1.5)  # times the scale each image is deployed at
    eval_every: int = 500
    seed: int = 0
    threads: int = 0  # 0: torch's default
    max_train_images: int = 0  # per folder; 0: all
    max_val_images: int = 0  # per folder; 0: all
    rare_class_sampling: bool = True  # draw images with rare classes (cyclists, poles, signs) more often
    init_weights: Path | None = None  # fine-tune from these safetensors (a checkpoint in ``out`` still wins)
    precision: str = "fp32"  # "bf16": autocast on CPUs with native bfloat16 (AVX-512 BF16, AMX), ~30 % faster
    # How much of the class weighting the deployed scores undo (nets.segmentation.FastSCNN.score_offset). All of
    # it restores the first folder's class frequencies: best on CamVid (val mIoU 0.635 -> 0.673), but other
    # cameras' streets differ, and there it cost cars and people (Argoverse: car share of the labelled car
    # boxes 0.70 -> 0.62; the Cityscapes frame's person IoU 0.18 -> 0.05). Half keeps most of the CamVid gain
    # (0.663) at half that cost (0.67; 0.15). docs/perception.md has the table.
    offset_strength: float = 0.5

    @property
    def pixels(self) -> int:
        return self.input_height * self.input_width


# --- data -----------------------------------------------------------------------------------------


@dataclass
class Split:
    """One folder's split in memory at its native resolution, labels in the dataset's own ids."""

    name: str
    spec: DatasetSpec
    images: list[NDArray[np.uint8]]
    labels: list[NDArray[np.uint8]]


def load_split(root: Path, spec: DatasetSpec, split: str, limit: int = 0) -> Split:
    items = find_images(root, split, spec)
    if limit:
        items = items[:: max(1, len(items) // limit)][:limit]
    images, labels = [], []
    for item in tqdm(items, desc=f"loading {spec.name} {split}", unit="img"):
        rgb, ids = load_labelled(item, spec)
        images.append(rgb)
        labels.append(ids)
    return Split(f"{spec.name}:{root.name}", spec, images, labels)


def normalise(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, as the exported model expects."""
    image = rgb.astype(np.float32) / 255.0
    image = (image - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def resize(image: NDArray, width: int, height: int, labels: bool = False) -> NDArray:
    """Labels by nearest neighbour; images by area when shrinking (no aliasing), else bilinear."""
    if labels:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
    shrinking = height < image.shape[0]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Photometric:
    """What a camera does to an image, drawn per sample: colour, exposure, blur, noise, compression."""

    hue: float = 8.0  # degrees of OpenCV's 0..180 hue
    saturation: tuple[float, float] = (0.75, 1.25)
    brightness: tuple[float, float] = (0.7, 1.3)
    gamma: tuple[float, float] = (1.0, 1.0)  # exposure curve
    white_balance: float = 0.0  # per-channel gain spread
    blur_probability: float = 0.0
    blur_sigma: tuple[float, float] = (0.4, 1.4)
    noise_probability: float = 0.0
    noise_sigma: tuple[float, float] = (2.0, 8.0)  # of 255
    jpeg_probability: float = 0.0
    jpeg_quality: tuple[int, int] = (35, 90)


REAL_CAMERA = Photometric(gamma=(0.8, 1.25), blur_probability=0.15, noise_probability=0.15, noise_sigma=(1.0, 4.0))
# Rendered frames are noiseless, perfectly focused and exposed: add what a real sensor and lens do.
RENDERED = Photometric(
    hue=12.0,
    saturation=(0.6, 1.3),
    brightness=(0.55, 1.35),
    gamma=(0.6, 1.6),
    white_balance=0.12,
    blur_probability=0.6,
    noise_probability=0.7,
    jpeg_probability=0.4,
)


def photometric(rgb: NDArray[np.uint8], camera: Photometric, rng: random.Random) -> NDArray[np.uint8]:
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-camera.hue, camera.hue)) % 180
    hsv[..., 1] *= rng.uniform(*camera.saturation)
    hsv[..., 2] = hsv[..., 2] * rng.uniform(*camera.brightness) + rng.uniform(-15, 15)
    image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    gamma = rng.uniform(*camera.gamma)
    if gamma != 1.0:
        image = 255.0 * (image / 255.0) ** gamma
    if camera.white_balance:
        image *= np.array([rng.uniform(1 - camera.white_balance, 1 + camera.white_balance) for _ in range(3)])
    if rng.random() < camera.blur_probability:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*camera.blur_sigma))
    if rng.random() < camera.noise_probability:
        noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(image.shape, dtype=np.float32)
        image += noise * rng.uniform(*camera.noise_sigma)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < camera.jpeg_probability:
        quality = rng.randint(*camera.jpeg_quality)
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return image


def augment(
    rgb: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    config: TrainConfig,
    rng: random.Random,
    camera: Photometric = REAL_CAMERA,
) -> tuple[NDArray, NDArray]:
    """Random scale around the image's deployed scale, crop (padding: mirrored image, ignored labels),
    horizontal flip, then the camera effects."""
    height, width = labels.shape
    deployed = fit_pixels(height, width, config.pixels).scaled_height / height
    scale = deployed * rng.uniform(*config.scale_range)
    size = (max(int(width * scale), 1), max(int(height * scale), 1))
    rgb = resize(rgb, *size)
    labels = resize(labels, *size, labels=True)
    crop = config.crop
    pad_h, pad_w = max(crop - labels.shape[0], 0), max(crop - labels.shape[1], 0)
    if pad_h or pad_w:
        border = cv2.BORDER_REFLECT_101 if min(labels.shape) > 1 else cv2.BORDER_REPLICATE
        rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, border)
        labels = cv2.copyMakeBorder(labels, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=IGNORE)
    top = rng.randint(0, labels.shape[0] - crop)
    left = rng.randint(0, labels.shape[1] - crop)
    rgb, labels = rgb[top : top + crop, left : left + crop], labels[top : top + crop, left : left + crop]
    if rng.random() < 0.5:
        rgb, labels = rgb[:, ::-1], labels[:, ::-1]
    return photometric(rgb, camera, rng), np.ascontiguousarray(labels)


def class_counts(labels: list[NDArray[np.uint8]], classes: int) -> NDArray[np.float64]:
    counts = np.zeros(classes, np.float64)
    for image in labels:
        counts += np.bincount(image[image != IGNORE].ravel(), minlength=256)[:classes]
    return counts


def image_sampling_weights(labels: list[NDArray[np.uint8]], classes: int) -> NDArray[np.float64]:
    """Per-image draw probability: images showing rare classes (by pixel share over the set) come up more,
    up to 5x, so a class seen in few images is not learnt from a handful of draws."""
    counts = class_counts(labels, classes)
    rarity = np.sqrt(np.median(counts[counts > 0]) / np.maximum(counts, 1.0))
    weights = np.ones(len(labels))
    for index, image in enumerate(labels):
        present = np.unique(image[image != IGNORE])
        weights[index] = np.clip(rarity[present].max(initial=1.0), 1.0, 5.0)
    return weights / weights.sum()


def class_weights(labels: list[NDArray[np.uint8]], classes: int) -> torch.Tensor:
    """ENet weighting 1 / ln(1.02 + p): rare classes (poles, signs, people) count more, bounded."""
    counts = class_counts(labels, classes)
    frequency = counts / max(counts.sum(), 1.0)
    weights = 1.0 / np.log(1.02 + frequency)
    weights[counts == 0] = 0.0
    return torch.tensor(weights, dtype=torch.float32)


def score_offset(covers: torch.Tensor, weights: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Minus ``strength`` times the log of the weight each network class is trained with (the weight of the
    dataset class covering it), the correction ``FastSCNN.score_offset`` applies when deployed; strength 1
    removes the weighting exactly. Network classes the dataset never shows as a target take its largest
    weight: they are at least as rare as its rarest."""
    covered = covers.any(dim=0)
    per_class = (covers.to(weights.dtype) * weights[:, None]).sum(dim=0)
    shown = covered & (per_class > 0)
    if not shown.any():
        raise ValueError("no class has a positive weight: the data has no labelled pixels")
    per_class = torch.where(shown, per_class, per_class[shown].max())
    return -strength * torch.log(per_class)


# --- evaluation -----------------------------------------------------------------------------------


def confusion_matrix(prediction: NDArray, truth: NDArray, classes: int) -> NDArray[np.int64]:
    """(classes, classes) counts, truth by row; pixels whose truth is IGNORE are left out."""
    valid = truth != IGNORE
    return np.bincount(
        truth[valid].astype(np.int64) * classes + prediction[valid], minlength=classes * classes
    ).reshape(classes, classes)


def iou_from_confusion(confusion: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Per-class IoU and which classes are present in the ground truth (the ones mIoU averages)."""
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = confusion.sum(1) > 0
    iou = true_positive / np.maximum(union, 1.0)  # counts: a union of 0 has no true positive either, so 0
    return iou, present


def scores(confusion: NDArray[np.int64], class_names: tuple[str, ...]) -> dict[str, object]:
    """mIoU over the classes present in the truth; a last row/column beyond ``class_names`` holds
    predictions of train ids the dataset has no class for (wrong wherever they are)."""
    iou, present = iou_from_confusion(confusion)
    present[len(class_names) :] = False
    return {
        "miou": float(iou[present].mean()) if present.any() else float("nan"),
        "per_class_iou": {class_names[c]: round(float(iou[c]), 4) for c in np.flatnonzero(present)},
        "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "confusion": confusion.tolist(),
    }


@torch.inference_mode()
def predict_train_ids(model: FastSCNN, rgb: NDArray[np.uint8], pixels: int) -> NDArray[np.uint8]:
    """Labels at the image's size, with the image fitted to the deployed input as the node fits it."""
    fit = fit_pixels(*rgb.shape[:2], pixels)
    image = resize(rgb, fit.scaled_width, fit.scaled_height)
    image = cv2.copyMakeBorder(
        image, 0, fit.input_height - fit.scaled_height, 0, fit.input_width - fit.scaled_width, cv2.BORDER_REFLECT_101
    )
    logits = model.coarse_logits(torch.from_numpy(normalise(image))[None])
    rows, cols = fit.output_region(*logits.shape[-2:])
    logits = F.interpolate(logits[:, :, :rows, :cols], size=rgb.shape[:2], mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].to(torch.uint8).numpy()


def evaluate(model: FastSCNN, split: Split, pixels: int) -> dict[str, object]:
    model.eval()
    space = split.spec.label_space
    classes = len(space.classes) + 1  # + "no class of this dataset"
    confusion = np.zeros((classes, classes), np.int64)
    for rgb, truth in zip(split.images, split.labels, strict=True):
        prediction = space.from_train_ids(predict_train_ids(model, rgb, pixels))
        confusion += confusion_matrix(prediction, truth, classes)
    return scores(confusion, space.classes)


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


@dataclass
class Domain:
    """A training folder as the loop uses it: its images, how to draw and augment them, its loss terms."""

    train: Split
    val: Split
    share: float
    draw: NDArray[np.float64] | None
    camera: Photometric
    covers: torch.Tensor  # (dataset classes, 19) bool
    weights: torch.Tensor  # per dataset class


def prepare_domains(config: TrainConfig) -> list[Domain]:
    shares = config.mix or [1.0] * len(config.data)
    if len(shares) != len(config.data) or min(shares) < 0 or sum(shares) <= 0:
        raise ValueError(f"--mix needs one non-negative share per --data folder ({len(config.data)}), not {shares}")
    domains = []
    for root, share in zip(config.data, shares, strict=True):
        spec = spec_for(root)
        train_split = load_split(root, spec, "train", config.max_train_images)
        classes = len(spec.label_space.classes)
        domains.append(
            Domain(
                train=train_split,
                val=load_split(root, spec, "val", config.max_val_images),
                share=share / sum(shares),
                draw=image_sampling_weights(train_split.labels, classes) if config.rare_class_sampling else None,
                camera=RENDERED if spec.synthetic else REAL_CAMERA,
                covers=torch.from_numpy(spec.label_space.cover_matrix()),
                weights=class_weights(train_split.labels, classes),
            )
        )
    return domains


def draw_batch(
    domains: list[Domain], config: TrainConfig, picker: np.random.Generator, step: int, share: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor, NDArray[np.intp]]:
    """Which images make up the global batch (every training process draws the same), and the augmented
    images (N, 3, crop, crop) and dataset-id targets (N, crop, crop) of ``share`` of it; ``owners`` is each
    sample's domain over the whole batch, sorted. Each sample's augmentation is seeded by the run's seed, the
    iteration and its place in the batch, so it is the same whichever process makes it."""
    owners = picker.choice(len(domains), size=config.batch_size, p=[d.share for d in domains])
    owners.sort()
    picks = [picker.choice(len(domains[owner].train.images), p=domains[owner].draw) for owner in owners]
    images, targets = [], []
    for place in range(config.batch_size)[share]:
        domain, index = domains[owners[place]], picks[place]
        rng = random.Random(f"{config.seed}:{step}:{place}")
        rgb, labels = augment(domain.train.images[index], domain.train.labels[index], config, rng, domain.camera)
        images.append(normalise(rgb))
        targets.append(labels)
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(targets).astype(np.int64)), owners


def batch_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    owners: NDArray[np.intp],
    domains: list[Domain],
    ranks: Ranks = ALONE,
) -> torch.Tensor:
    """The global batch's loss: each domain's samples scored in its own classes (a class-weighted mean),
    domains weighted by their share of the batch. ``logits`` and ``targets`` are this process's share of the
    batch (``ranks.share``), ``owners`` every sample's domain, sorted (draw_batch). Each weighted mean
    divides by the weights of the whole batch (summed over the processes) and the sum is scaled by the number
    of processes, so DDP's average of their gradients is the gradient of one process on the whole batch."""
    mine = owners[ranks.share(len(owners))]
    total = logits.new_zeros(())
    for owner in np.unique(owners):  # every process makes the same collective calls, in the same order
        domain = domains[owner]
        rows = slice(int(np.searchsorted(mine, owner)), int(np.searchsorted(mine, owner, side="right")))
        target = targets[rows]
        weighted = covered_nll(logits[rows], target, domain.covers, domain.weights, IGNORE, reduction="sum")
        normaliser = ranks.sum(domain.weights.to(logits.dtype)[target[target != IGNORE]].sum())
        if normaliser > 0:  # a domain whose every pixel is ignored adds nothing
            total = total + weighted / normaliser * (np.count_nonzero(owners == owner) / len(owners))
    return total * ranks.world


def training_step(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    targets: torch.Tensor,
    owners: NDArray[np.intp],
    domains: list[Domain],
    ranks: Ranks = ALONE,
    precision: str = "fp32",
) -> float:
    """One optimiser step on this process's share of the batch; returns the whole batch's loss."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = network(images)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 scores lose in float32
    loss = batch_loss(logits, targets, owners, domains, ranks)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(ranks.sum(loss.detach()) / ranks.world)


def evaluate_all(model: FastSCNN, domains: list[Domain], pixels: int) -> dict[str, dict[str, object]]:
    return {domain.val.name: evaluate(model, domain.val, pixels) for domain in domains}


def train(config: TrainConfig) -> dict[str, object]:
    """Train as one process, or as one of several (torchrun, or ``nets.distributed.spawn``); the first
    process writes checkpoints, weights and metrics and returns the summary, the others return {}."""
    if config.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
    return as_ranks(train_ranks, config)


def train_ranks(config: TrainConfig, ranks: Ranks) -> dict[str, object]:
    ranks.share(config.batch_size)  # the batch must divide among the processes
    seed_everything(config.seed, threads_per_rank(config.threads, ranks))
    config.out.mkdir(parents=True, exist_ok=True)
    domains = prepare_domains(config)
    model = FastSCNN()
    if ranks.world > 1:
        with_global_batch_layers(model)
    if config.init_weights is not None:
        load_initial_weights(model, config.init_weights)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "miou": []}
    checkpoint_path = config.out / "checkpoint.pt"
    start, history = resume(checkpoint_path, model, optimizer, history, announce=ranks.main)
    # The first folder is the one the model is for (its val split is the headline): its class weights set
    # the deployed correction, so every evaluation below already scores what will be shipped.
    model.score_offset.copy_(score_offset(domains[0].covers, domains[0].weights, config.offset_strength))
    network = data_parallel(model, ranks)
    picker = np.random.default_rng(config.seed + start)
    progress = training_steps(start, config.iterations, ranks)
    for step in progress:
        network.train()
        images, targets, owners = draw_batch(domains, config, picker, step, ranks.share(config.batch_size))
        for group in optimizer.param_groups:
            group["lr"] = poly_lr(config.lr, step, config.iterations)
        batch_mean = training_step(network, optimizer, images, targets, owners, domains, ranks, config.precision)
        if not math.isfinite(batch_mean):
            raise FloatingPointError(f"loss became {batch_mean} at iteration {step}")
        history["step"].append(step)
        history["loss"].append(batch_mean)
        progress.set_postfix(loss=f"{batch_mean:.3f}")
        if (step + 1) % config.eval_every == 0 or step + 1 == config.iterations:
            if ranks.main:
                results = evaluate_all(model, domains, config.pixels)
                history["eval_step"].append(step + 1)
                history["miou"].append(next(iter(results.values()))["miou"])
                for name, result in results.items():
                    history.setdefault(f"miou {name}", []).append(result["miou"])
                said = ", ".join(f"{name} {result['miou']:.4f}" for name, result in results.items())
                progress.write(f"iteration {step + 1}: val mIoU {said}")
                save_checkpoint(checkpoint_path, model, optimizer, step + 1, history)
            ranks.wait_for_all()
    if not ranks.main:
        return {}
    results = evaluate_all(model, domains, config.pixels)
    save_file(model.state_dict(), str(config.out / "segmentation.safetensors"))
    for domain in domains:
        write_confusion(results[domain.val.name], domain, config.out)
    plot_curves(history, "miou", f"validation mIoU ({domains[0].val.name})", config.out / "curves.png")
    summary = {
        "config": {k: [str(i) for i in v] if isinstance(v, list) else str(v) for k, v in asdict(config).items()},
        "data": [
            {"folder": str(root), "spec": domain.train.spec.name, "share": round(domain.share, 4)}
            for root, domain in zip(config.data, domains, strict=True)
        ],
        "metrics": results[domains[0].val.name],
        "metrics_by_data": results,
        "history": {key: value for key, value in history.items() if key not in ("step", "loss")},
        "train_images": sum(len(d.train.images) for d in domains),
        "val_images": sum(len(d.val.images) for d in domains),
    }
    (config.out / "metrics.json").write_text(json.dumps(summary, indent=2))
    return summary


def write_confusion(result: dict[str, object], domain: Domain, out: Path) -> None:
    confusion = np.array(result["confusion"])
    names = [*domain.val.spec.label_space.classes, "(no class)"]
    present = np.flatnonzero((confusion.sum(1) > 0) | (confusion.sum(0) > 0))
    plot_confusion(
        confusion[np.ix_(present, present)],
        [names[c] for c in present],
        f"{domain.val.name} confusion (row-normalised)",
        out / f"confusion_{domain.val.spec.name}.png",
    )
