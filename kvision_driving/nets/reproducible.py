"""Seeds and threads for a training run, set once at its start."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, threads: int = 0) -> None:
    """Python, numpy and torch seeded; torch limited to ``threads`` CPU threads when given."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
