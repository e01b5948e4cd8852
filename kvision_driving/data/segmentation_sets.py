"""Labelled image folders of any dataset, described by a small spec instead of code per dataset.

A spec (YAML: ``kvision_driving/data/specs/*.yaml``, or a file of your own) names a layout and the
dataset's classes with the Cityscapes train ids each covers:

- ``layout: cityscapes``: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` with gtFine train ids or labelIds
  (real Cityscapes, and the simulator's export);
- ``layout: paired_folders``: ``images`` and ``labels`` folder templates (``{split}``), label PNGs with the
  image's file name holding dataset class ids (CamVid).

A folder says which spec it follows with a ``kvision_dataset.yaml`` (``spec: <name or path>``, as the
simulator export writes); without one, the layout is recognised (``leftImg8bit/``: Cityscapes,
``<split>annot/``: CamVid).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from kvision_driving.core.label_spaces import CITYSCAPES, LabelSpace, LabelSpaceError
from kvision_driving.data.cityscapes import DatasetError, Sample, find_samples, load_sample

SPECS = Path(__file__).parent / "specs"
FOLDER_SPEC = "kvision_dataset.yaml"
LAYOUTS = ("cityscapes", "paired_folders")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    layout: str
    label_space: LabelSpace
    synthetic: bool = False  # rendered images: training adds a real camera's effects
    images: str = ""  # paired_folders: image folder template, "{split}" replaced
    labels: str = ""  # paired_folders: label folder template


def builtin_specs() -> list[str]:
    return sorted(path.stem for path in SPECS.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> DatasetSpec:
    """A built-in spec by name (``camvid``, ``cityscapes``, ``simulator``) or a spec YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SPECS / f"{name_or_path}.yaml"
        if not path.is_file():
            raise DatasetError(f"no dataset spec {name_or_path!r} (built in: {', '.join(builtin_specs())})")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DatasetError(f"cannot read dataset spec {path}: {error}") from error
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: a dataset spec is a mapping (name, layout, classes)")
    return spec_from_mapping(raw, str(path))


def spec_from_mapping(raw: dict, where: str) -> DatasetSpec:
    name = str(raw.get("name", Path(where).stem))
    layout = raw.get("layout")
    if layout not in LAYOUTS:
        raise DatasetError(f"{where}: layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    classes = raw.get("classes")
    try:
        if classes == "cityscapes":
            label_space = CITYSCAPES
        elif isinstance(classes, dict) and classes:
            covers = {str(key): value if isinstance(value, list) else [value] for key, value in classes.items()}
            label_space = LabelSpace.from_names(name, covers, tuple(int(i) for i in raw.get("ignore_ids", [])))
        else:
            raise DatasetError(f"{where}: classes must be 'cityscapes' or a mapping class -> [Cityscapes classes]")
    except LabelSpaceError as error:
        raise DatasetError(f"{where}: {error}") from error
    spec = DatasetSpec(
        name=name,
        layout=layout,
        label_space=label_space,
        synthetic=bool(raw.get("synthetic", False)),
        images=str(raw.get("images", "")),
        labels=str(raw.get("labels", "")),
    )
    if layout == "paired_folders" and not (spec.images and spec.labels):
        raise DatasetError(f"{where}: layout paired_folders needs 'images' and 'labels' folder templates")
    return spec


def spec_for(root: Path) -> DatasetSpec:
    """The spec a folder follows: its kvision_dataset.yaml, else its recognised layout."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    marker = root / FOLDER_SPEC
    if marker.is_file():
        try:
            raw = yaml.safe_load(marker.read_text())
        except yaml.YAMLError as error:
            raise DatasetError(f"cannot read {marker}: {error}") from error
        if isinstance(raw, dict) and "spec" in raw:
            named = str(raw["spec"])
            return load_spec(root / named if named.endswith(".yaml") else named)
        if isinstance(raw, dict):
            return spec_from_mapping(raw, str(marker))
        raise DatasetError(f"{marker}: expected 'spec: <name or file>' or a spec mapping")
    if (root / "leftImg8bit").is_dir():
        return load_spec("cityscapes")
    if any((root / f"{split}annot").is_dir() for split in ("train", "val", "test")):
        return load_spec("camvid")
    raise DatasetError(
        f"{root}: not a recognised dataset layout (leftImg8bit/ for Cityscapes, <split>/ + <split>annot/ for "
        f"CamVid); add a {FOLDER_SPEC} naming a spec"
    )


def find_images(root: Path, split: str, spec: DatasetSpec) -> list[Sample]:
    if spec.layout == "cityscapes":
        return find_samples(root, split)
    images_dir = root / spec.images.format(split=split)
    labels_dir = root / spec.labels.format(split=split)
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir} does not exist (split {split!r} of a {spec.name} folder)")
    found = []
    for image in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        labels = labels_dir / image.with_suffix(".png").name
        if not labels.is_file():
            raise DatasetError(f"no labels for {image} (expected {labels})")
        found.append(Sample(image, labels, "dataset_ids"))
    if not found:
        raise DatasetError(f"no images in {images_dir}")
    return found


def load_labelled(item: Sample, spec: DatasetSpec) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(rgb (H, W, 3), dataset class ids (H, W)); 255 = ignore."""
    if item.label_kind != "dataset_ids":
        return load_sample(item)
    bgr = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    labels = cv2.imread(str(item.labels), cv2.IMREAD_UNCHANGED)
    if bgr is None or labels is None:
        raise DatasetError(f"cannot read {item.image} or {item.labels}")
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise DatasetError(f"{item.labels}: labels must be a single-channel 8-bit image of class ids")
    if labels.shape != bgr.shape[:2]:
        raise DatasetError(f"{item.labels} is {labels.shape}, its image {bgr.shape[:2]}")
    return np.ascontiguousarray(bgr[:, :, ::-1]), spec.label_space.label_table()[labels]
