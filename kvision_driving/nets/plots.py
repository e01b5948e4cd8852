"""Training plots shared by every network: a row-normalised confusion matrix and loss/metric curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: NDArray, names: Sequence[str], title: str, path: Path) -> None:
    """Rows are the ground truth, normalised to 1; cells of at least 1% are written in."""
    plt = _pyplot()
    matrix = np.asarray(confusion, dtype=np.float64)
    matrix = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(max(4.0, 0.45 * len(names) + 2), max(3.5, 0.4 * len(names) + 2)))
    axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(names)), names, rotation=60, ha="right")
    axis.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            if matrix[i, j] >= 0.01:
                colour = "white" if matrix[i, j] > 0.5 else "black"
                axis.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6, color=colour)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_curves(history: dict[str, list], metric: str, metric_label: str, path: Path) -> None:
    """Training loss per iteration (log scale) beside a validation metric per evaluation (one line per
    ``"<metric> <name>"`` series when the history has them, else ``metric``)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(history["step"], history["loss"], lw=0.8)
    left.set_xlabel("iteration")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    series = {key.removeprefix(metric + " "): key for key in history if key.startswith(metric + " ")}
    for label, key in (series or {metric_label: metric}).items():
        right.plot(history["eval_step"], history[key], marker="o", label=label)
    if series:
        right.legend(fontsize=8)
    right.set_xlabel("iteration")
    right.set_ylabel(metric_label)
    right.set_ylim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
