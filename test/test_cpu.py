"""core/cpu.py by hand: the CPU model and the vector extensions from /proc/cpuinfo's text."""

from __future__ import annotations

import platform
from pathlib import Path

from kvision_driving.core.cpu import cpu_description, this_cpu

EPYC = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2 fma\n\nprocessor\t: 1\n"


def test_the_first_processors_name_and_flags_in_a_fixed_order() -> None:
    assert cpu_description(EPYC) == ("AMD EPYC 7B13", ["avx2", "fma"])
    second = EPYC.replace("processor\t: 1\n", "processor\t: 1\nmodel name\t: other\nflags\t\t: avx512f\n")
    assert cpu_description(second) == ("AMD EPYC 7B13", ["avx2", "fma"])  # the first block's, not a mix
    xeon = "model name\t: Intel(R) Xeon(R) CPU\nflags\t\t: avx512_vnni avx512f fma avx2 amx_int8\n"
    assert cpu_description(xeon) == ("Intel(R) Xeon(R) CPU", ["avx2", "fma", "avx512f", "avx512_vnni", "amx_int8"])
    assert cpu_description("") == ("unknown", [])


def test_this_cpu_reads_the_file_or_falls_back_to_the_platform(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(EPYC)
    assert this_cpu(cpuinfo) == ("AMD EPYC 7B13", ["avx2", "fma"])
    assert this_cpu(tmp_path / "missing") == (platform.processor() or "unknown", [])


def test_a_value_may_hold_a_colon() -> None:
    assert cpu_description("model name\t: Vendor: Model 9\nflags\t\t: avx2\n") == ("Vendor: Model 9", ["avx2"])
