"""``kvision eval segmentation``: a segmentation model (any backend) on held-out simulator scenes or on any
labelled folder (CamVid, Cityscapes, a spec of your own), scored in that data's own classes: per-class IoU,
mIoU, pixel accuracy, a confusion matrix, and a camera | ground truth | prediction PNG.

Frames go through ``perception.segmentation.Segmenter``, the node's own stage: any image size is fitted
to the model as the node fits it, so what is scored is what runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.label_spaces import CITYSCAPES, LabelSpace
from kvision_driving.core.labels import PALETTE
from kvision_driving.data.segmentation_sets import DatasetSpec, find_images, load_labelled, spec_for
from kvision_driving.inference.backends import create_backend
from kvision_driving.nets.plots import plot_confusion
from kvision_driving.nets.train_segmentation import confusion_matrix, scores
from kvision_driving.perception.segmentation import Segmenter
from kvision_driving.sim.scenario import Scenario
from kvision_driving.sim.simulator import Simulator

GRID_WIDTH = 480  # each panel of the PNG grid, whatever the camera


@dataclass
class LabelledFrames:
    """Frames with ground truth in ``label_space``'s ids, read one at a time."""

    name: str
    label_space: LabelSpace
    frames: Iterable[tuple[NDArray[np.uint8], NDArray[np.uint8]]]
    count: int


def simulator_frames(
    scenarios: list[Scenario], seeds: list[int], every: int = 20, name: str = "simulator"
) -> LabelledFrames:
    def frames() -> Iterator[tuple[NDArray[np.uint8], NDArray[np.uint8]]]:
        for scenario in scenarios:
            for seed in seeds:
                simulator = Simulator(replace(scenario, seed=seed), lidar=None)
                while not simulator.done:
                    if simulator.step_index % every == 0:
                        camera = simulator.render().cameras["front"]
                        yield camera.rgb, camera.labels
                    simulator.advance(*simulator.autopilot_command())

    rendered = list(frames())
    return LabelledFrames(name, CITYSCAPES, rendered, len(rendered))


def folder_frames(root: Path, split: str, spec: DatasetSpec | None = None) -> LabelledFrames:
    spec = spec or spec_for(root)
    items = find_images(root, split, spec)
    return LabelledFrames(f"{spec.name} {split}", spec.label_space, (load_labelled(i, spec) for i in items), len(items))


def class_palette(space: LabelSpace) -> NDArray[np.uint8]:
    """A colour per dataset id: the Cityscapes colour of the first class it covers; ignore and "no class" black."""
    table = np.zeros((256, 3), np.uint8)
    for index, cover in enumerate(space.covers):
        table[index] = PALETTE[cover[0]]
    return table


def _grid_row(rgb: NDArray, truth: NDArray, prediction: NDArray, palette: NDArray) -> NDArray[np.uint8]:
    height = round(rgb.shape[0] * GRID_WIDTH / rgb.shape[1])
    panels = [
        cv2.resize(rgb, (GRID_WIDTH, height), interpolation=cv2.INTER_AREA),
        cv2.resize(palette[truth], (GRID_WIDTH, height), interpolation=cv2.INTER_NEAREST),
        cv2.resize(palette[prediction], (GRID_WIDTH, height), interpolation=cv2.INTER_NEAREST),
    ]
    return np.hstack(panels)


def write_grid(rows: list[NDArray[np.uint8]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.ascontiguousarray(np.vstack(rows)[:, :, ::-1])
    for column, title in enumerate(("camera", "ground truth", "prediction")):
        cv2.putText(
            image, title, (8 + column * GRID_WIDTH, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA
        )
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def evaluate(
    model: Path,
    data: LabelledFrames,
    backend: str = "onnxruntime",
    grid: Path | None = None,
    grid_rows: int = 4,
    confusion_png: Path | None = None,
) -> dict[str, Any]:
    choice = create_backend(model, backend)
    segmenter = Segmenter(choice.backend, choice.card)
    space = data.label_space
    classes = len(space.classes) + 1  # + predictions of train ids this data has no class for
    palette = class_palette(space)
    confusion = np.zeros((classes, classes), np.int64)
    rows, model_ms, sizes = [], [], set()
    every = max(1, data.count // grid_rows)
    frames = 0
    for index, (rgb, truth) in enumerate(data.frames):
        result = segmenter(rgb)
        prediction = space.from_train_ids(result.labels)
        confusion += confusion_matrix(prediction, truth, classes)
        model_ms.append(result.model_ms)
        sizes.add(f"{rgb.shape[1]}x{rgb.shape[0]}")
        if grid is not None and index % every == 0 and len(rows) < grid_rows:
            rows.append(_grid_row(rgb, truth, prediction, palette))
        frames += 1
    if grid is not None and rows:
        write_grid(rows, grid)
    result = scores(confusion, space.classes)
    if confusion_png is not None:
        names = [*space.classes, "(no class)"]
        present = np.flatnonzero((confusion.sum(1) > 0) | (confusion.sum(0) > 0))
        plot_confusion(confusion[np.ix_(present, present)], [names[c] for c in present], data.name, confusion_png)
    return {
        "model": model.name,
        "backend": choice.backend.name,
        "data": data.name,
        "classes": list(space.classes),
        "images": frames,
        "image_sizes": sorted(sizes),
        **result,
        "model_ms_p50": float(np.median(model_ms)) if model_ms else float("nan"),
    }


def held_out_frames(
    folders: list[Path], split: str, scenarios: list[Scenario], seeds: list[int], every: int, seeds_text: str
) -> list[LabelledFrames]:
    """Labelled folders' ``split`` and simulator scenes at ``seeds`` (named by ``seeds_text``, e.g. 2000-2004)."""
    held_out = [folder_frames(folder, split) for folder in folders]
    if seeds:
        held_out.append(simulator_frames(scenarios, seeds, every, name=f"simulator seeds {seeds_text}"))
    return held_out


def card_metrics(model: Path, held_out: list[LabelledFrames], reference: Path | None = None) -> dict[str, Any]:
    """A model's scores on held-out data for its card: per data set, mIoU, frames and per-class IoU, and (with
    ``reference``, e.g. the float model an INT8 one was made from) that model's mIoU on the very same frames;
    the model's median time per frame on ONNX Runtime's CPU provider."""
    metrics: dict[str, Any] = {}
    for data in held_out:
        frames = list(data.frames)
        result = evaluate(model, replace(data, frames=frames))
        prefix = data.name.replace(" ", "_").replace("-", "_")
        metrics |= {
            f"{prefix}_miou": round(result["miou"], 4),
            f"{prefix}_frames": result["images"],
            f"{prefix}_per_class_iou": result["per_class_iou"],
        }
        metrics.setdefault("model_ms_p50_onnxruntime_cpu", round(result["model_ms_p50"], 1))
        if reference is not None:
            other = evaluate(reference, replace(data, frames=frames))
            metrics[f"{prefix}_reference_model_miou"] = round(other["miou"], 4)
            metrics.setdefault("reference_model_ms_p50_onnxruntime_cpu", round(other["model_ms_p50"], 1))
    return metrics
