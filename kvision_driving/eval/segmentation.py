"""``kvision eval segmentation``: a segmentation model (any backend) on held-out simulator scenes, or on a
Cityscapes-layout folder: per-class IoU, mIoU, and a camera | ground truth | prediction PNG."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.labels import CLASS_NAMES, colorize
from kvision_driving.data.cityscapes import find_samples, load_sample
from kvision_driving.inference.backends import create_backend
from kvision_driving.nets.train_segmentation import confusion_matrix, iou_from_confusion
from kvision_driving.perception.segmentation import Segmenter
from kvision_driving.sim.scenario import Scenario
from kvision_driving.sim.simulator import Simulator


def simulator_samples(scenarios: list[Scenario], seeds: list[int], every: int = 20) -> list[tuple[NDArray, NDArray]]:
    samples = []
    for scenario in scenarios:
        for seed in seeds:
            simulator = Simulator(replace(scenario, seed=seed), lidar=None)
            while not simulator.done:
                if simulator.step_index % every == 0:
                    camera = simulator.render().cameras["front"]
                    samples.append((camera.rgb, camera.labels))
                simulator.advance(*simulator.autopilot_command())
    return samples


def folder_samples(root: Path, split: str) -> list[tuple[NDArray, NDArray]]:
    return [load_sample(sample) for sample in find_samples(root, split)]


def evaluate(
    model: Path,
    samples: list[tuple[NDArray, NDArray]],
    backend: str = "onnxruntime",
    grid: Path | None = None,
    grid_rows: int = 4,
) -> dict[str, Any]:
    choice = create_backend(model, backend)
    segmenter = Segmenter(choice.backend, choice.card)
    confusion = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), np.int64)
    rows = []
    model_ms = []
    for index, (rgb, truth) in enumerate(samples):
        result = segmenter(rgb)
        model_ms.append(result.model_ms)
        confusion += confusion_matrix(result.labels, truth)
        if grid is not None and index % max(1, len(samples) // grid_rows) == 0 and len(rows) < grid_rows:
            rows.append(np.hstack([rgb, colorize(truth), colorize(result.labels)]))
    iou, present = iou_from_confusion(confusion)
    if grid is not None and rows:
        grid.parent.mkdir(parents=True, exist_ok=True)
        image = np.ascontiguousarray(np.vstack(rows)[:, :, ::-1])
        for column, title in enumerate(("camera", "ground truth", "prediction")):
            cv2.putText(
                image,
                title,
                (8 + column * rows[0].shape[1] // 3, 20),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6,
                (255, 255, 255),
                2,
                cv2.LINE_AA,
            )
        cv2.imwrite(str(grid), image)
    return {
        "model": model.name,
        "backend": choice.backend.name,
        "images": len(samples),
        "miou": float(iou[present].mean()) if present.any() else float("nan"),
        "per_class_iou": {CLASS_NAMES[c]: round(float(iou[c]), 4) for c in np.flatnonzero(present)},
        "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "model_ms_p50": float(np.median(model_ms)) if model_ms else float("nan"),
    }
