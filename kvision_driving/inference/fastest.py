"""The faster of a model's CPU variants (float, INT8) on this machine: measured once, then read from a cache.

INT8 wins where the CPU has int8 dot products (AVX-512 VNNI); without them the quantised graph's
conversions can cost more than they save (docs/perception.md has the figures).
So a node measures both once per machine, ONNX Runtime version, thread count and model file, and
keeps the figures in ``~/.cache/kvision/cpu_variants.json`` for every later start.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kvision_driving.core.cpu import this_cpu
from kvision_driving.inference.backends import OnnxRuntimeBackend
from kvision_driving.inference.model_card import verified_card

CACHE = Path.home() / ".cache" / "kvision" / "cpu_variants.json"
ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


def run_ms(model: Path, threads: int, runs: int = 10) -> float:
    """Median milliseconds of one batch-1 run of ``model`` on zeros of its card's input shapes (after two
    warm-up runs, which are slower: buffers are allocated there)."""
    card = verified_card(model)
    backend = OnnxRuntimeBackend(model, threads=threads)
    shapes = {card.input.name: card.input.shape, **card.extra_inputs}
    inputs = {
        item.name: np.zeros((1, *shapes[item.name]), ONNX_DTYPES.get(item.type, np.float32))
        for item in backend.session.get_inputs()
    }
    times = []
    for run in range(runs + 2):
        started = time.perf_counter()
        backend.run(inputs)
        if run >= 2:
            times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def variant_key(model: Path, threads: int) -> str:
    """What a measurement holds for: this CPU and its extensions, ONNX Runtime's version, threads, the file."""
    import onnxruntime

    cpu, flags = this_cpu()
    return json.dumps([cpu, flags, onnxruntime.__version__, threads, verified_card(model).sha256])


def fastest_variant(
    variants: Sequence[Path],
    threads: int = 0,
    cache: Path = CACHE,
    measure: Callable[[Path, int], float] = run_ms,
) -> tuple[Path, dict[str, float]]:
    """The variant with the smallest run time and every variant's milliseconds (by file name), measured
    where the cache has no figure for it yet. An unreadable cache is measured again and rewritten."""
    try:
        known = json.loads(cache.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    timings = {}
    for model in variants:
        key = variant_key(model, threads)
        if not isinstance(known.get(key), float):
            known[key] = float(measure(model, threads))
        timings[model.name] = known[key]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        scratch = cache.with_name(f"{cache.name}.{os.getpid()}")
        scratch.write_text(json.dumps(known, indent=1))
        scratch.replace(cache)  # atomic: nodes starting side by side never read half a file
    except OSError:
        pass  # a read-only home: measure again next time
    return min(variants, key=lambda model: timings[model.name]), timings
