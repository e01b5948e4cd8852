"""This machine's CPU as speed depends on it: its model name and the vector extensions inference uses."""

from __future__ import annotations

import platform
from pathlib import Path

# Vector extensions that change inference speed most (VNNI: int8 dot products; BF16/AMX: bfloat16 training).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_description(cpuinfo: str) -> tuple[str, list[str]]:
    """(model name, the ISA_FLAGS present) from the text of /proc/cpuinfo."""
    model, flags = "unknown", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, [flag for flag in ISA_FLAGS if flag in flags]


def this_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """This machine's (model name, ISA flags); without /proc, the platform's processor name and no flags."""
    try:
        return cpu_description(cpuinfo.read_text())
    except OSError:
        return platform.processor() or "unknown", []
