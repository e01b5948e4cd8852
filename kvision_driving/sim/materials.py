"""Surface appearance: camera colour, lidar reflectivity, emission. The class label is per triangle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Material:
    name: str
    rgb: tuple[float, float, float]  # linear 0..1
    reflectivity: float  # lidar, 0..1
    emissive: bool = False


MATERIALS: tuple[Material, ...] = (
    Material("asphalt", (0.22, 0.22, 0.23), 0.10),
    Material("marking_white", (0.85, 0.85, 0.82), 0.60),
    Material("marking_yellow", (0.85, 0.70, 0.15), 0.55),
    Material("sidewalk", (0.58, 0.55, 0.52), 0.25),
    Material("curb", (0.70, 0.70, 0.68), 0.30),
    Material("grass", (0.30, 0.45, 0.18), 0.20),
    Material("brick", (0.55, 0.28, 0.20), 0.25),
    Material("plaster", (0.78, 0.72, 0.60), 0.30),
    Material("concrete", (0.50, 0.50, 0.52), 0.25),
    Material("glass_facade", (0.35, 0.45, 0.55), 0.15),
    Material("window", (0.12, 0.15, 0.20), 0.05),
    Material("bark", (0.30, 0.20, 0.12), 0.20),
    Material("foliage", (0.15, 0.38, 0.12), 0.15),
    Material("metal_pole", (0.55, 0.56, 0.58), 0.45),
    Material("sign_blue", (0.10, 0.25, 0.70), 0.90),
    Material("sign_red", (0.75, 0.10, 0.10), 0.90),
    Material("sign_back", (0.60, 0.60, 0.60), 0.40),
    Material("paint_red", (0.60, 0.08, 0.08), 0.35),
    Material("paint_blue", (0.10, 0.18, 0.55), 0.35),
    Material("paint_white", (0.85, 0.85, 0.85), 0.45),
    Material("paint_black", (0.06, 0.06, 0.07), 0.20),
    Material("paint_silver", (0.60, 0.62, 0.64), 0.40),
    Material("paint_green", (0.10, 0.40, 0.20), 0.35),
    Material("paint_yellow", (0.80, 0.65, 0.10), 0.40),
    Material("car_glass", (0.08, 0.10, 0.12), 0.05),
    Material("tyre", (0.04, 0.04, 0.04), 0.05),
    Material("tail_light_off", (0.30, 0.03, 0.03), 0.50),
    Material("brake_light_on", (1.00, 0.10, 0.08), 0.50, emissive=True),
    Material("indicator_off", (0.35, 0.22, 0.05), 0.50),
    Material("indicator_on", (1.00, 0.62, 0.05), 0.50, emissive=True),
    Material("headlight", (0.95, 0.95, 0.85), 0.60, emissive=True),
    Material("skin", (0.80, 0.60, 0.48), 0.30),
    Material("cloth_dark", (0.12, 0.12, 0.18), 0.20),
    Material("cloth_red", (0.65, 0.12, 0.15), 0.25),
    Material("cloth_blue", (0.15, 0.25, 0.60), 0.25),
    Material("cloth_light", (0.75, 0.72, 0.65), 0.30),
    Material("bike_frame", (0.20, 0.20, 0.22), 0.35),
)
MATERIAL_ID = {material.name: index for index, material in enumerate(MATERIALS)}
MATERIAL_RGB = np.array([m.rgb for m in MATERIALS], dtype=np.float32)
MATERIAL_REFLECTIVITY = np.array([m.reflectivity for m in MATERIALS], dtype=np.float32)
MATERIAL_EMISSIVE = np.array([m.emissive for m in MATERIALS], dtype=bool)

VEHICLE_PAINTS = ("paint_red", "paint_blue", "paint_white", "paint_black", "paint_silver", "paint_green")
CLOTHES = ("cloth_dark", "cloth_red", "cloth_blue", "cloth_light")
FACADES = ("brick", "plaster", "concrete", "glass_facade")
