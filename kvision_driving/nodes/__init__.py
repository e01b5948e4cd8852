"""One small file per node: wire topics to a ROS-free object, nothing else.

Imported before any node module, so before numpy: every node is one process among several sharing
the CPU, and OpenBLAS's worker threads, which spin while they wait, turned a 64k-point transform into
33 ms in the pipeline benchmark (1 ms alone). Nodes multiply small matrices: one BLAS thread each.
The user's own setting wins.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
