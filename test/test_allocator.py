"""core/allocator.py: large buffers are reused instead of faulted in again for every message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import kvision_driving
from kvision_driving.core.allocator import keep_large_buffers, user_tuned_malloc

# A message's life in a process: several image-sized buffers alive at once, then freed together.
MESSAGES = """
import resource, sys
import numpy as np
from kvision_driving.core.allocator import keep_large_buffers
if sys.argv[1] == "tuned":
    assert keep_large_buffers()
def message():
    buffers = [np.ones(2_700_000, np.uint8) for _ in range(4)]
    del buffers
for _ in range(3):
    message()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    message()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    """The script in a fresh interpreter, on the package this test imported (a scratch copy under a
    mutation tool, say, not whatever is installed), without the caller's malloc settings."""
    env = {name: value for name, value in os.environ.items() if not user_tuned_malloc({name: value})}
    env["PYTHONPATH"] = str(Path(kvision_driving.__file__).parents[1])
    result = subprocess.run([sys.executable, "-c", MESSAGES, mode], capture_output=True, text=True, env=env, check=True)
    return int(result.stdout)


def test_large_buffers_are_reused_instead_of_faulted_in_again() -> None:
    pages_per_message = 4 * 2_700_000 // 4096
    assert page_faults("plain") > 10 * pages_per_message  # glibc's default: fresh pages for most messages
    assert page_faults("tuned") < pages_per_message // 10


def test_the_thresholds_are_set_in_this_process_too() -> None:
    """In-process, as a node calls it (the test above runs fresh interpreters, which load the installed
    package): glibc accepts both settings, and afterwards freeing and reallocating a message's buffers
    faults in almost no new pages."""
    import resource

    import numpy as np

    assert keep_large_buffers({}) is True  # an environment without malloc settings of its own
    for _ in range(3):
        buffers = [np.ones(2_700_000, np.uint8) for _ in range(4)]
        del buffers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        buffers = [np.ones(2_700_000, np.uint8) for _ in range(4)]
        del buffers
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 4 * 2_700_000 // 4096


@pytest.mark.parametrize(
    "setting",
    [
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"MALLOC_TRIM_THRESHOLD_": "0"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
    ],
)
def test_a_users_malloc_settings_are_kept(setting: dict[str, str]) -> None:
    assert user_tuned_malloc(setting)
    assert keep_large_buffers(setting) is False


def test_unrelated_tunables_do_not_count_as_malloc_settings() -> None:
    assert not user_tuned_malloc({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"})


def test_by_default_the_process_environment_decides() -> None:
    """Without an explicit environment, this process's own is read: a user's malloc settings there win."""
    assert keep_large_buffers() is (not user_tuned_malloc(os.environ))


def test_both_thresholds_are_asked_for_and_both_must_be_accepted() -> None:
    """What reaches mallopt, by a stand-in that records it (the tests above show the real effect)."""
    asked: list[tuple[int, int]] = []

    def mallopt(parameter: int, value: int) -> int:
        asked.append((parameter, value))
        return 1

    assert keep_large_buffers({}, mallopt) is True
    assert asked == [(-3, 32 * 1024 * 1024), (-1, 128 * 1024 * 1024)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    for refused in (-3, -1):
        asked.clear()
        assert keep_large_buffers({}, lambda parameter, value, r=refused: int(parameter != r)) is False
    assert keep_large_buffers({"MALLOC_TOP_PAD_": "0"}, mallopt) is False
