"""Keep Python's cyclic garbage collector from pausing a node for its own start-up objects.

A node imports rclpy, numpy, OpenCV, open3d, ONNX Runtime (or torch) and loads its model before it
handles a message: about 120 000 objects that live as long as the process. Every full collection
walks all of them while holding the GIL (around 100 ms on a small, loaded CPU), and none once they
are frozen. Messages with a thousand poses make the young generations fill fast, so full collections
come every few seconds, and each one lands in some message's latency. ``gc.freeze()`` moves
the objects alive now into a generation the collector never visits (what CPython's documentation
recommends after start-up, and what Instagram's servers do); everything allocated later is
collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect once, then exempt every surviving object from later collections; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
