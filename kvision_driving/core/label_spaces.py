"""Other datasets' label spaces, expressed in the 19 Cityscapes train ids the network predicts.

A dataset class *covers* one or more train ids (CamVid's ``car`` covers car, truck, bus and train). That
one table serves both directions:
- training: the probability of a dataset class is the sum of the probabilities of the train ids it
  covers (``nets.losses.covered_nll``), so coarse labels supervise the fine outputs without guessing;
- scoring: a 19-class prediction maps to the dataset class covering it (exact, many to one), and a
  train id no dataset class covers counts as a wrong answer (``other``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.labels import CLASS_NAMES, IGNORE, TRAIN_ID

# A dataset label outside 0..classes-1 (or listed as ignored) becomes this.
DATASET_IGNORE = IGNORE


class LabelSpaceError(ValueError):
    """A label space whose classes or covers do not make sense."""


@dataclass(frozen=True)
class LabelSpace:
    name: str
    classes: tuple[str, ...]  # dataset class names, by dataset id
    covers: tuple[tuple[int, ...], ...]  # per dataset class, the train ids it covers
    ignore_ids: tuple[int, ...] = ()  # dataset ids that mean "not labelled"

    def __post_init__(self) -> None:
        if len(self.classes) != len(self.covers):
            raise LabelSpaceError(f"{self.name}: {len(self.classes)} classes but {len(self.covers)} covers")
        seen: dict[int, str] = {}
        for name, cover in zip(self.classes, self.covers, strict=True):
            if not cover:
                raise LabelSpaceError(f"{self.name}: class {name!r} covers no train id")
            for train_id in cover:
                if not 0 <= train_id < len(CLASS_NAMES):
                    raise LabelSpaceError(f"{self.name}: class {name!r} covers {train_id}, not a train id")
                if train_id in seen:
                    raise LabelSpaceError(
                        f"{self.name}: {CLASS_NAMES[train_id]!r} is covered by both {seen[train_id]!r} and {name!r}"
                    )
                seen[train_id] = name

    @classmethod
    def from_names(cls, name: str, covers: dict[str, list[str]], ignore_ids: tuple[int, ...] = ()) -> LabelSpace:
        """``{dataset class: [Cityscapes class names]}`` in dataset id order."""
        try:
            ids = tuple(tuple(TRAIN_ID[train_name] for train_name in names) for names in covers.values())
        except KeyError as error:
            raise LabelSpaceError(
                f"{name}: {error.args[0]!r} is not a Cityscapes class ({', '.join(CLASS_NAMES)})"
            ) from error
        return cls(name, tuple(covers), ids, ignore_ids)

    @property
    def is_identity(self) -> bool:
        return self.covers == tuple((train_id,) for train_id in range(len(CLASS_NAMES)))

    def cover_matrix(self) -> NDArray[np.bool_]:
        """(dataset classes, 19): True where a dataset class covers a train id."""
        matrix = np.zeros((len(self.classes), len(CLASS_NAMES)), bool)
        for index, cover in enumerate(self.covers):
            matrix[index, list(cover)] = True
        return matrix

    def prediction_table(self) -> NDArray[np.uint8]:
        """train id -> dataset id; a train id no class covers maps to ``len(classes)`` ("other")."""
        table = np.full(256, len(self.classes), np.uint8)
        for index, cover in enumerate(self.covers):
            table[list(cover)] = index
        return table

    def label_table(self) -> NDArray[np.uint8]:
        """Raw dataset label value -> dataset id, or DATASET_IGNORE for ignored and unknown values."""
        table = np.full(256, DATASET_IGNORE, np.uint8)
        table[: len(self.classes)] = np.arange(len(self.classes), dtype=np.uint8)
        table[list(self.ignore_ids)] = DATASET_IGNORE
        return table

    def from_train_ids(self, prediction: NDArray[np.integer]) -> NDArray[np.uint8]:
        """A 19-class prediction in this space's ids (``len(classes)`` for uncovered train ids)."""
        return self.prediction_table()[np.asarray(prediction, np.uint8)]


CITYSCAPES = LabelSpace("cityscapes", CLASS_NAMES, tuple((train_id,) for train_id in range(len(CLASS_NAMES))))
