"""Resumable training: model, optimizer, iteration and history in one file, loaded without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def resume(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, history: dict, announce: bool = True
) -> tuple[int, dict]:
    """(first iteration, history): from ``path`` when it exists (model and optimizer restored), else (0, history).
    ``announce``: say so (one of several training processes leaves it to the first)."""
    if not path.exists():
        return 0, history
    state = torch.load(path, weights_only=True)  # tensors and plain types only: no pickle
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start = int(state["step"])
    if announce:
        print(f"resumed from {path} at iteration {start}")
    return start, json.loads(state["history"])


def save_checkpoint(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, history: dict
) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
    torch.save({**state, "history": json.dumps(history)}, path)
