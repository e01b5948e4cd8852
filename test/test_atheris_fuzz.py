"""Coverage-guided fuzzing of the converters (``fuzz_convert.py``, atheris) for a bounded number of runs.

libFuzzer ends its process when done, so it runs as a subprocess; a crash or a broken promise exits
non-zero with the input that caused it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


# The default suite's share (about 10 s here); -m slow goes ten times deeper.
@pytest.mark.parametrize("runs", [500_000, pytest.param(5_000_000, marks=pytest.mark.slow)])
def test_converters_survive_coverage_guided_fuzzing(tmp_path: Path, runs: int) -> None:
    harness = Path(__file__).with_name("fuzz_convert.py")
    result = subprocess.run(
        [sys.executable, str(harness), f"-runs={runs}", "-seed=7", "-max_len=8192", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=60 + runs // 5_000,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"Done {runs} runs" in result.stderr
