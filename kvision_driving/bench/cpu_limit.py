"""A slower machine on this one: processes limited to a share of the CPU, for benchmarks.

``CpuLimit(1.5)`` gives the processes added to it 1.5 CPUs between them, as a vehicle computer shared with
other work, or a smaller machine, would. The Linux CFS bandwidth controller does exactly that: a cgroup
allowed ``cpus`` x period of CPU time per period (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``). It
needs a writable cgroup hierarchy (root, or a delegated one: ``systemd-run --user --scope``); elsewhere
the processes are pinned to whole cores instead (CPU affinity, ``cpus`` rounded down, at least one), and
the result says which was applied. ROS-free.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # the kernel's default CFS period


class CpuLimitError(RuntimeError):
    """The limit cannot be applied (a process that is gone, or no way to limit at all)."""


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@dataclass
class CpuLimit:
    """Context manager: ``add(pid)`` moves a process under the limit; leaving removes the cgroup."""

    cpus: float
    method: str = "auto"  # "auto": cgroup where writable, else affinity; or "cgroup", "affinity"
    root: Path = CGROUP_ROOT
    applied: str = field(init=False, default="")
    group: Path | None = field(init=False, default=None)
    _proc_path: str = field(init=False, default="")  # the group as /proc/<pid>/cgroup names it
    limited: dict[str, int] = field(init=False, default_factory=dict)
    cores: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        if not self.cpus > 0:
            raise ValueError(f"cpus must be > 0, not {self.cpus}")
        if self.method not in ("auto", "cgroup", "affinity"):
            raise ValueError(f"method must be auto, cgroup or affinity, not {self.method!r}")

    # --- where the limit lives ----------------------------------------------------------------------

    def _parent(self) -> tuple[Path, str] | None:
        """(folder to create the group in, "v2" or "v1"), or None without a writable CPU controller."""
        if (self.root / "cgroup.controllers").is_file():  # unified hierarchy
            own = Path("/proc/self/cgroup").read_text().splitlines()
            relative = next((line.split("::", 1)[1] for line in own if line.startswith("0::")), "/")
            parent = self.root / relative.lstrip("/")
            try:
                controllers = (parent / "cgroup.controllers").read_text().split()
            except OSError:  # our own group is not visible here (a container's namespace)
                return None
            if "cpu" not in controllers or not _writable(parent):
                return None
            control = parent / "cgroup.subtree_control"
            if "cpu" not in control.read_text().split():
                try:  # refused (EBUSY) where the parent itself holds processes: no internal processes in v2
                    control.write_text("+cpu")
                except OSError:
                    return None
            return parent, "v2"
        if _writable(self.root / "cpu"):
            return self.root / "cpu", "v1"
        return None

    def __enter__(self) -> CpuLimit:
        where = None if self.method == "affinity" else self._parent()
        if where is not None:
            parent, version = where
            group = parent / f"kvision-bench-{os.getpid()}"
            group.mkdir(exist_ok=True)
            quota = max(int(self.cpus * PERIOD_US), 1000)
            if version == "v2":
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            self.group = group
            self._proc_path = "/" + str(group.relative_to(self.root if version == "v2" else parent))
            self.applied = f"cgroup {version}: {quota} us of CPU per {PERIOD_US} us"
            return self
        if self.method == "cgroup":
            raise CpuLimitError(f"no writable cgroup CPU controller under {self.root}")
        available = sorted(os.sched_getaffinity(0))
        self.cores = set(available[: max(1, min(len(available), math.floor(self.cpus)))])
        self.applied = f"affinity: cores {sorted(self.cores)} (whole cores only: {self.cpus} rounded down)"
        return self

    def add(self, name: str, pid: int) -> None:
        """Put process ``pid`` (all its threads) under the limit."""
        try:
            if self.group is not None:
                (self.group / "cgroup.procs").write_text(str(pid))
            else:
                os.sched_setaffinity(pid, self.cores)
        except (ProcessLookupError, OSError) as error:
            raise CpuLimitError(f"cannot limit {name} (pid {pid}): {error}") from error
        self.limited[name] = pid

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` is under the limit now (its cgroup, or its affinity)."""
        if self.group is not None:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            return any(line.split(":", 2)[2] == self._proc_path for line in lines)
        return os.sched_getaffinity(pid) == self.cores

    def summary(self) -> dict[str, object]:
        return {"cpus": self.cpus, "applied": self.applied, "processes": sorted(self.limited)}

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.group is None:
            return
        # A group can only be removed once empty: move what is left (normally nothing) back to the parent.
        leftover = (self.group / "cgroup.procs").read_text().split()
        for pid in leftover:
            with contextlib.suppress(OSError):  # exited meanwhile
                (self.group.parent / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):  # still busy: the kernel removes nothing in use; nothing else to do
            self.group.rmdir()
