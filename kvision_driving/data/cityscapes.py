"""Cityscapes-layout segmentation folders: the simulator's export and real Cityscapes alike.

``<root>/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png`` with
``<root>/gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`` (train ids), or, when only
``_gtFine_labelIds.png`` exists, the official labelIds mapped to train ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.labels import label_ids_to_train_ids

IMAGE_SUFFIX = "_leftImg8bit.png"


class DatasetError(ValueError):
    """A folder or file that is not a usable Cityscapes-layout dataset."""


@dataclass(frozen=True)
class Sample:
    image: Path
    labels: Path
    label_kind: str  # "train_ids", "label_ids" (Cityscapes labelIds) or "dataset_ids" (a spec's own classes)


def find_samples(root: Path, split: str) -> list[Sample]:
    images_dir = root / "leftImg8bit" / split
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir} does not exist: expected a Cityscapes layout (leftImg8bit/{split}/<city>/)")
    samples = []
    for image in sorted(images_dir.glob(f"*/*{IMAGE_SUFFIX}")):
        stem = image.name.removesuffix(IMAGE_SUFFIX)
        labels_dir = root / "gtFine" / split / image.parent.name
        train_ids = labels_dir / f"{stem}_gtFine_labelTrainIds.png"
        label_ids = labels_dir / f"{stem}_gtFine_labelIds.png"
        if train_ids.exists():
            samples.append(Sample(image, train_ids, "train_ids"))
        elif label_ids.exists():
            samples.append(Sample(image, label_ids, "label_ids"))
        else:
            raise DatasetError(f"no gtFine labels for {image}")
    if not samples:
        raise DatasetError(f"no *{IMAGE_SUFFIX} images under {images_dir}")
    return samples


def load_sample(sample: Sample) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(rgb (H, W, 3), train ids (H, W)); 255 = ignore."""
    bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    labels = cv2.imread(str(sample.labels), cv2.IMREAD_UNCHANGED)
    if bgr is None or labels is None:
        raise DatasetError(f"cannot read {sample.image} or {sample.labels}")
    if labels.ndim != 2:
        raise DatasetError(f"{sample.labels} is not a single-channel label image")
    if labels.shape != bgr.shape[:2]:
        raise DatasetError(f"{sample.labels} is {labels.shape}, its image {bgr.shape[:2]}")
    if sample.label_kind == "label_ids":
        labels = label_ids_to_train_ids(labels)
    return np.ascontiguousarray(bgr[:, :, ::-1]), labels.astype(np.uint8)
