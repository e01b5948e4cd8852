"""Keep large message buffers in the process instead of handing them back to the kernel each time.

glibc serves a request of 128 KiB or more with a fresh ``mmap`` and returns it with ``munmap``
when freed (or trims the heap top back to the kernel). A 1280x720 image passes through about six
buffers of 2.7 MB between two processes (rclpy, serialisation, Fast DDS history, shared memory,
deserialisation, the Python message), and every fresh mapping is faulted in page by page again.
``kvision bench transport`` measures what that costs (docs/benchmarks.md: image latency and the
subscriber's CPU both fall by about 2.5x). Raising both thresholds makes glibc reuse the freed memory; the price
is that up to ``TRIM_THRESHOLD`` of free heap stays mapped in each process.

Only glibc has ``mallopt``; elsewhere this does nothing. A user who tunes malloc through the
environment keeps their settings.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper limit for this setting on 64-bit; the DDS segment is as large
TRIM_THRESHOLD = 128 * 1024 * 1024
SETTINGS = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))

#: Any of these in the environment means malloc is tuned deliberately: leave it alone.
USER_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def user_tuned_malloc(env: Mapping[str, str]) -> bool:
    return any(name in env for name in USER_MALLOC_SETTINGS) or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")


def keep_large_buffers(env: Mapping[str, str] | None = None, mallopt: Callable[[int, int], int] | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if glibc took both. ``mallopt``: the C
    library's (the default), or a stand-in that records what would be set."""
    if user_tuned_malloc(os.environ if env is None else env):
        return False
    if mallopt is None:
        # The symbols already loaded into this process, the C library's among them.
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
        if mallopt is None:  # not glibc
            return False
    accepted = [mallopt(parameter, value) for parameter, value in SETTINGS]  # every one tried
    return all(accepted)
