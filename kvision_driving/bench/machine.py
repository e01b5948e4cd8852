"""The machine a figure was measured on: CPU model, cores, vector extensions, library versions, thread settings.

The same code measured 2.4x apart on two machines of one kind (an AMD EPYC with AVX2 only, an Intel Xeon
with AVX-512 VNNI): every benchmark JSON and ``kvision doctor`` carry this, so figures from two machines are
never compared unawares. Read from /proc and package metadata only: nothing heavy is imported.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from kvision_driving.core.cpu import this_cpu

PACKAGES = ("onnxruntime", "onnxruntime-gpu", "torch", "numpy", "opencv-python-headless", "open3d-cpu", "tensorrt")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")


def machine_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    model, flags = this_cpu(cpuinfo)
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": model,
        "isa": flags,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "threads": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
    }


def describe(info: dict[str, Any]) -> str:
    """One line: ``AMD EPYC, 2 CPUs, avx2 avx512f avx512_vnni avx512_bf16``."""
    flags = " ".join(info["isa"]) or "no AVX2"
    return f"{info['cpu']}, {info['usable_cpus']} CPUs, {flags}"
