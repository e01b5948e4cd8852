"""DCGAN (Radford et al., 2016) for synthetic camera frames: the model, its training loop, a quality measure.

Generator: a 100-d noise vector, reshaped to 100x1x1, through transposed convolutions with batch
norm and ReLU to a tanh image (64x64, or 128x128 with one more stage). Discriminator: strided
convolutions with LeakyReLU (batch norm after the first) to one logit. Loss: binary cross-entropy
on logits (``BCEWithLogitsLoss``, numerically safe), Adam at 2e-4 with betas (0.5, 0.999), optional
one-sided label smoothing. What the founding document's example got wrong is fixed by
construction: transposed convolutions (not Conv2d) grow noise into images, ``nn.Tanh`` is a module,
the discriminator's logits never meet ``BCELoss``, and "real" batches are real frames.

Quality: the Frechet distance between real and generated images in the feature space of our own
segmentation network's encoder (Fast-SCNN global features, 128-d) -- an FID computed with a
driving-scene encoder instead of Inception, which is not available here; comparable between runs
of this project, not with published FID numbers.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from scipy import linalg
from torch import nn
from tqdm import tqdm

from kvision_driving.nets.reproducible import seed_everything

NOISE_DIM = 100
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        if image_size not in (64, 128):
            raise ValueError("image_size must be 64 or 128")
        stages = 4 if image_size == 64 else 5
        channels = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 512, 256, 128, 64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(NOISE_DIM, channels[0], 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        ]
        for cin, cout in itertools.pairwise(channels):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """(N, 100) or (N, 100, 1, 1) noise -> (N, 3, S, S) images in [-1, 1]."""
        return self.net(noise.view(noise.shape[0], NOISE_DIM, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        stages = 4 if image_size == 64 else 5
        layers: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        channels = width
        for _ in range(stages - 1):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(0.2, True),
            ]
            channels *= 2
        layers += [nn.Conv2d(channels, 1, 4, 1, 0, bias=False)]  # 4x4 -> one logit
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).view(-1)


# --- data -----------------------------------------------------------------------------------------


def load_images(folder: Path, size: int, limit: int = 4000) -> NDArray[np.uint8]:
    """Every image under ``folder`` (an image folder or a simulator export), centre-cropped to a square
    and resized: (N, size, size, 3) RGB uint8."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and "gtFine" not in p.parts)
    files = [p for p in files if "labelIds" not in p.name and "labelTrainIds" not in p.name][:limit]
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    images = np.empty((len(files), size, size, 3), np.uint8)
    for index, path in enumerate(files):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read {path}")
        height, width = bgr.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = bgr[top : top + side, left : left + side, ::-1]
        images[index] = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    return images


def to_tensor(images: NDArray[np.uint8]) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> NDArray[np.uint8]:
    return ((images.detach().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


# --- quality --------------------------------------------------------------------------------------


class SceneFeatures:
    """128-d features of images from the segmentation network's encoder (global average pooled)."""

    MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def __init__(self, weights: Path) -> None:
        from kvision_driving.nets.segmentation import load_segmentation_network

        network = load_segmentation_network(weights)
        self.encoder = nn.Sequential(network.downsample, network.global_features).eval()

    @torch.inference_mode()
    def __call__(self, images: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float64]:
        features = []
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).float() / 255.0
            x = torch.nn.functional.interpolate(x, size=(128, 128), mode="bilinear", align_corners=False)
            features.append(self.encoder((x - self.MEAN) / self.STD).mean(dim=(2, 3)).double().numpy())
        return np.concatenate(features)


def frechet_distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (FID's formula)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov(a, rowvar=False) + np.eye(a.shape[1]) * 1e-6
    cov_b = np.cov(b, rowvar=False) + np.eye(b.shape[1]) * 1e-6
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * np.real(root)))


def mean_pairwise_distance(images: NDArray[np.uint8]) -> float:
    """Mean L2 distance between all pairs of images (0..255 scale, per pixel RMS): a mode-collapse gauge."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    squared = (flat**2).sum(1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * flat @ flat.T, 0.0) / flat.shape[1])
    upper = np.triu_indices(len(images), 1)
    return float(distances[upper].mean())


# --- training -------------------------------------------------------------------------------------


@dataclass
class GanConfig:
    data: Path
    out: Path
    encoder_weights: Path  # segmentation weights whose encoder measures quality
    image_size: int = 64
    batch_size: int = 64
    epochs: int = 10
    iterations_per_epoch: int = 100
    lr: float = 2e-4
    label_smoothing: float = 0.1  # real targets 1 - this (one-sided)
    seed: int = 0
    fid_samples: int = 256
    threads: int = 0


def save_grid(images: NDArray[np.uint8], path: Path, columns: int = 8) -> None:
    rows = [np.hstack(images[i : i + columns]) for i in range(0, len(images) - len(images) % columns, columns)]
    cv2.imwrite(str(path), np.vstack(rows)[:, :, ::-1])


def plot_losses(history: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(history["d_loss"], lw=0.6, label="discriminator")
    left.plot(history["g_loss"], lw=0.6, label="generator")
    left.set_xlabel("iteration")
    left.legend()
    right.plot(history["epoch"], history["frechet"], marker="o")
    right.set_xlabel("epoch")
    right.set_ylabel("Frechet distance (segmentation-encoder features)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def train_gan(config: GanConfig, progress: bool = True) -> dict[str, object]:
    seed_everything(config.seed, config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    real = load_images(config.data, config.image_size)
    features = SceneFeatures(config.encoder_weights)
    real_features = features(real[np.random.default_rng(config.seed).permutation(len(real))[: config.fid_samples]])
    generator, discriminator = Generator(config.image_size), Discriminator(config.image_size)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    loss = nn.BCEWithLogitsLoss()
    fixed_noise = torch.randn(64, NOISE_DIM, generator=torch.Generator().manual_seed(config.seed))
    history: dict[str, list] = {"d_loss": [], "g_loss": [], "epoch": [], "frechet": []}
    checkpoint = config.out / "gan_checkpoint.pt"
    start_epoch = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        g_optimizer.load_state_dict(state["g_optimizer"])
        d_optimizer.load_state_dict(state["d_optimizer"])
        start_epoch, history = int(state["epoch"]), json.loads(state["history"])

    def frechet() -> float:
        generator.eval()
        with torch.inference_mode():
            samples = to_uint8(generator(torch.randn(config.fid_samples, NOISE_DIM)))
        generator.train()
        return frechet_distance(real_features, features(samples))

    if not history["epoch"]:
        history["epoch"].append(0)
        history["frechet"].append(frechet())
    rng = np.random.default_rng(config.seed + start_epoch)
    for epoch in range(start_epoch, config.epochs):
        bar = tqdm(
            range(config.iterations_per_epoch), desc=f"gan epoch {epoch + 1}/{config.epochs}", disable=not progress
        )
        for _ in bar:
            batch = to_tensor(real[rng.integers(0, len(real), config.batch_size)])
            if rng.random() < 0.5:
                batch = batch.flip(3)
            noise = torch.randn(config.batch_size, NOISE_DIM)
            fake = generator(noise)
            # Discriminator: real -> (1 - smoothing), fake -> 0.
            d_optimizer.zero_grad(set_to_none=True)
            real_target = torch.full((config.batch_size,), 1.0 - config.label_smoothing)
            d_loss = loss(discriminator(batch), real_target) + loss(
                discriminator(fake.detach()), torch.zeros(config.batch_size)
            )
            d_loss.backward()
            d_optimizer.step()
            # Generator: make the discriminator call fakes real.
            g_optimizer.zero_grad(set_to_none=True)
            g_loss = loss(discriminator(fake), torch.ones(config.batch_size))
            g_loss.backward()
            g_optimizer.step()
            history["d_loss"].append(d_loss.item())
            history["g_loss"].append(g_loss.item())
            if not (np.isfinite(history["d_loss"][-1]) and np.isfinite(history["g_loss"][-1])):
                raise FloatingPointError(f"GAN loss not finite in epoch {epoch + 1}")
            bar.set_postfix(d=f"{history['d_loss'][-1]:.2f}", g=f"{history['g_loss'][-1]:.2f}")
        history["epoch"].append(epoch + 1)
        history["frechet"].append(frechet())
        generator.eval()
        with torch.inference_mode():
            save_grid(to_uint8(generator(fixed_noise)), config.out / f"samples_epoch{epoch + 1:03d}.png")
        generator.train()
        torch.save(
            {
                "generator": generator.state_dict(),
                "discriminator": discriminator.state_dict(),
                "g_optimizer": g_optimizer.state_dict(),
                "d_optimizer": d_optimizer.state_dict(),
                "epoch": epoch + 1,
                "history": json.dumps(history),
            },
            checkpoint,
        )
    plot_losses(history, config.out / "losses.png")
    from safetensors.torch import save_file

    save_file(generator.state_dict(), str(config.out / "generator.safetensors"))
    generator.eval()
    with torch.inference_mode():
        samples = to_uint8(generator(torch.randn(64, NOISE_DIM)))
    summary = {
        "config": {k: str(v) for k, v in asdict(config).items()},
        "frechet": history["frechet"],
        "sample_diversity": mean_pairwise_distance(samples),
        "real_diversity": mean_pairwise_distance(real[:64]),
    }
    (config.out / "gan_metrics.json").write_text(json.dumps(summary, indent=2))
    return summary
