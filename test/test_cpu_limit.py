"""bench.cpu_limit: processes put under a CPU limit (cgroup bandwidth, or whole cores), checked on real
child processes by where the kernel says they are, never by timing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvision_driving.bench.cpu_limit import CpuLimit, CpuLimitError


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def _writable_cpu_cgroup() -> bool:
    try:
        with CpuLimit(1.0, "cgroup"):
            return True
    except (CpuLimitError, OSError):
        return False


@pytest.mark.skipif(not _writable_cpu_cgroup(), reason="no writable cgroup CPU controller on this machine")
def test_a_cgroup_gives_the_processes_added_the_share_asked_for(sleeper: subprocess.Popen) -> None:
    with CpuLimit(0.5, "cgroup") as limit:
        assert limit.group is not None and limit.group.is_dir()
        quota = limit.group / "cpu.max"
        if quota.exists():  # cgroup v2
            assert quota.read_text().split() == ["50000", "100000"]
        else:  # v1
            assert (limit.group / "cpu.cfs_quota_us").read_text().strip() == "50000"
            assert (limit.group / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert not limit.holds(sleeper.pid)
        limit.add("sleeper", sleeper.pid)
        assert limit.holds(sleeper.pid) and str(sleeper.pid) in (limit.group / "cgroup.procs").read_text().split()
        assert not limit.holds(os.getpid())  # only what was added
        assert limit.summary() == {"cpus": 0.5, "applied": limit.applied, "processes": ["sleeper"]}
    assert not limit.group.exists()  # removed, its process moved back out
    assert str(sleeper.pid) in (limit.group.parent / "cgroup.procs").read_text().split()


def test_without_cgroups_processes_are_pinned_to_whole_cores(sleeper: subprocess.Popen) -> None:
    with CpuLimit(1.5, "affinity") as limit:
        assert limit.cores == {min(os.sched_getaffinity(0))} and "rounded down" in limit.applied
        limit.add("sleeper", sleeper.pid)
        assert os.sched_getaffinity(sleeper.pid) == limit.cores and limit.holds(sleeper.pid)
    with CpuLimit(64.0, "affinity") as everything:
        assert everything.cores == os.sched_getaffinity(0)  # never more cores than there are


def test_the_cgroup_v2_files_are_written_as_the_kernel_reads_them(tmp_path: Path, sleeper: subprocess.Popen) -> None:
    """A stand-in unified hierarchy (plain files): the cpu controller is enabled for the children of this
    process's group, the group gets ``cpu.max`` = "quota period", processes go to ``cgroup.procs``."""
    own = Path("/proc/self/cgroup").read_text().splitlines()
    relative = next((line.split("::", 1)[1] for line in own if line.startswith("0::")), "/")
    parent = tmp_path / relative.lstrip("/")
    parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (parent / "cgroup.controllers").write_text("cpu memory\n")
    (parent / "cgroup.subtree_control").write_text("memory\n")
    (parent / "cgroup.procs").write_text("")
    with CpuLimit(1.5, "cgroup", root=tmp_path) as limit:
        assert (parent / "cgroup.subtree_control").read_text() == "+cpu"
        assert limit.group is not None and limit.group.parent == parent
        assert (limit.group / "cpu.max").read_text() == "150000 100000"
        assert limit.applied.startswith("cgroup v2")
        limit.add("sleeper", sleeper.pid)
        assert (limit.group / "cgroup.procs").read_text() == str(sleeper.pid)
    assert (parent / "cgroup.procs").read_text() == str(sleeper.pid)  # moved back out on leaving


def test_limits_that_cannot_be_applied_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cpus must be > 0"):
        CpuLimit(0.0)
    with pytest.raises(ValueError, match="method must be"):
        CpuLimit(1.0, "nice")
    forced = CpuLimit(1.0, "cgroup", root=tmp_path)
    with pytest.raises(CpuLimitError, match="no writable cgroup CPU controller"), forced:
        pass
    with CpuLimit(1.0, "auto", root=tmp_path) as fallback:  # auto falls back to whole cores
        assert fallback.group is None and fallback.applied.startswith("affinity")
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        with pytest.raises(CpuLimitError, match=f"cannot limit player \\(pid {gone.pid}\\)"):
            fallback.add("player", gone.pid)
