"""How the simulated world looks to the camera: material colours, sun and sky, surface texture, shadows.

The plain look (flat colour per triangle, one sun, no shadows) is what the stack was built on. Three options
add what real streets have and flat shading lacks, for training networks that must work on real cameras:

- ``textures``: surface detail, a procedural value noise on the hit point in the world (asphalt grain,
  facade weathering, foliage), per material;
- ``shadows``: a ray from every lit surface point towards the sun; occluded points get ambient light only;
- ``randomise``: per world (scenario seed), material colours, sun direction and strength, ambient light and
  sky colour drawn around the plain ones (domain randomisation).

Labels never change with the look: only the camera's colours do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kvision_driving.sim.materials import MATERIAL_ID, MATERIAL_RGB, MATERIALS

APPEARANCE_OPTIONS = ("textures", "shadows", "randomise")
PLAIN_SUN = np.array([0.35, 0.25, 0.9]) / np.linalg.norm([0.35, 0.25, 0.9])
PLAIN_HORIZON = np.array([0.78, 0.84, 0.92], dtype=np.float32)
PLAIN_ZENITH = np.array([0.33, 0.52, 0.84], dtype=np.float32)
PLAIN_AMBIENT, PLAIN_DIRECT = 0.42, 0.62

# Relative albedo variation of each material's surface texture (others: DEFAULT_TEXTURE).
TEXTURE = {
    "asphalt": 0.35,
    "sidewalk": 0.25,
    "curb": 0.2,
    "grass": 0.45,
    "brick": 0.3,
    "plaster": 0.2,
    "concrete": 0.25,
    "glass_facade": 0.3,
    "window": 0.4,
    "bark": 0.35,
    "foliage": 0.6,
    "marking_white": 0.15,
    "marking_yellow": 0.15,
}
DEFAULT_TEXTURE = 0.06  # paint, cloth, metal: nearly uniform
TEXTURE_CELLS = (0.03, 0.15, 0.8)  # m: grain, mottling, patches
TEXTURE_WEIGHTS = (0.5, 0.3, 0.2)


@dataclass(frozen=True)
class AppearanceSettings:
    textures: bool = False
    shadows: bool = False
    randomise: bool = False

    @classmethod
    def parse(cls, text: str) -> AppearanceSettings:
        """``"textures,shadows"``; empty or ``plain``: none."""
        chosen = {part.strip() for part in text.split(",") if part.strip() and part.strip() != "plain"}
        unknown = chosen - set(APPEARANCE_OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown appearance {', '.join(sorted(unknown))} (choose from {', '.join(APPEARANCE_OPTIONS)})"
            )
        return cls(**{option: option in chosen for option in APPEARANCE_OPTIONS})

    def __str__(self) -> str:
        return ",".join(option for option in APPEARANCE_OPTIONS if getattr(self, option)) or "plain"


@dataclass(frozen=True)
class Lighting:
    """One world's look, drawn once from its seed."""

    palette: NDArray[np.float32]  # (materials, 3) linear albedo
    sun: NDArray[np.float32]  # unit vector towards the sun (map frame)
    ambient: float
    direct: float
    horizon: NDArray[np.float32]
    zenith: NDArray[np.float32]
    texture: NDArray[np.float32]  # (materials,) relative albedo variation; zeros: flat
    shadows: bool
    seed: int


def lighting_for(settings: AppearanceSettings, seed: int) -> Lighting:
    rng = np.random.default_rng([seed, 7])
    palette, sun = MATERIAL_RGB.copy(), PLAIN_SUN.copy()
    ambient, direct, horizon, zenith = PLAIN_AMBIENT, PLAIN_DIRECT, PLAIN_HORIZON.copy(), PLAIN_ZENITH.copy()
    if settings.randomise:
        # Colour: brightness and saturation per material, a small hue-like channel tilt.
        value = rng.uniform(0.7, 1.3, (len(palette), 1))
        grey = palette.mean(axis=1, keepdims=True)
        saturation = rng.uniform(0.6, 1.4, (len(palette), 1))
        tilt = rng.uniform(0.9, 1.1, (len(palette), 3))
        palette = np.clip((grey + (palette - grey) * saturation) * value * tilt, 0.01, 1.0)
        azimuth, elevation = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(20, 70))
        sun = np.array([np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation), np.sin(elevation)])
        ambient, direct = float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.35, 0.85))
        overcast = rng.uniform(0.0, 0.7)  # grey skies
        horizon = horizon * (1 - overcast) + overcast * np.float32(0.8)
        zenith = zenith * (1 - overcast) + overcast * np.float32(0.72)
    texture = np.zeros(len(MATERIALS), np.float32)
    if settings.textures:
        texture[:] = DEFAULT_TEXTURE
        for name, amount in TEXTURE.items():
            texture[MATERIAL_ID[name]] = amount
    return Lighting(
        palette.astype(np.float32),
        sun.astype(np.float32),
        ambient,
        direct,
        horizon.astype(np.float32),
        zenith.astype(np.float32),
        texture,
        settings.shadows,
        seed,
    )


PLAIN_LOOK = AppearanceSettings()
PLAIN = lighting_for(PLAIN_LOOK, 0)


def _hash01(cells: NDArray[np.int64], salt: int) -> NDArray[np.float32]:
    """A repeatable pseudo-random value in [-1, 1) per integer lattice cell (N, 3)."""
    mixed = (cells[:, 0] * 73856093) ^ (cells[:, 1] * 19349663) ^ (cells[:, 2] * 83492791) ^ salt
    mixed = (mixed * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF
    mixed ^= mixed >> 15
    mixed = (mixed * 0x2C1B3C6D) & 0xFFFFFFFF
    mixed ^= mixed >> 12
    return (mixed.astype(np.float32) / np.float32(2**31)) - np.float32(1.0)


def surface_texture(points: NDArray[np.float32], seed: int) -> NDArray[np.float32]:
    """Value noise in [-1, 1] at world points (N, 3): grain, mottling and patches summed."""
    total = np.zeros(len(points), np.float32)
    for octave, (cell, weight) in enumerate(zip(TEXTURE_CELLS, TEXTURE_WEIGHTS, strict=True)):
        cells = np.floor(points / np.float32(cell)).astype(np.int64)
        total += np.float32(weight) * _hash01(cells, seed * 31 + octave)
    return total
