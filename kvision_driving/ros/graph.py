"""Run a private ROS graph of real processes: own DDS domain, loopback DDS, own log folder.

Used by the tests, the benchmarks and ``kvision demo``. Imports no rclpy: it only prepares the
environment and manages processes. Domain ids are claimed with a lock file, so graphs started
in parallel (pytest workers, two benchmarks) never share a domain.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from kvision_driving.ros.dds import default_profile_path

#: Fast DDS maps domains above ~230 to ports that overflow; ROS recommends 0-101. 0 is left to people.
DOMAIN_RANGE = range(1, 102)
_LOCK_DIR = Path(tempfile.gettempdir()) / "kvision-domains"
# Variables that would take DDS off our loopback profile or off this graph's domain.
_STRIPPED = (
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
    "ROS_LOCALHOST_ONLY",
    "RMW_IMPLEMENTATION",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "KVISION_DDS_PROFILE",
)


class DomainLease:
    """An exclusive claim on a ROS_DOMAIN_ID for this machine, held until released."""

    def __init__(self, preferred: int | None = None) -> None:
        _LOCK_DIR.mkdir(parents=True, exist_ok=True)
        start = preferred if preferred is not None else (os.getpid() * 31 + time.monotonic_ns()) % len(DOMAIN_RANGE)
        for step in range(len(DOMAIN_RANGE)):
            domain = DOMAIN_RANGE[(start + step) % len(DOMAIN_RANGE)]
            handle = open(_LOCK_DIR / f"{domain}.lock", "w")  # noqa: SIM115 - held for the lease's life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.domain_id = domain
            self._handle: IO[str] | None = handle
            return
        raise RuntimeError("no free ROS_DOMAIN_ID: every id in 1-101 is in use on this machine")

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def graph_environment(domain_id: int, log_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process in a private graph: its domain, the loopback profile, its logs."""
    env = dict(os.environ if base is None else base)
    for name in _STRIPPED:
        env.pop(name, None)
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(default_profile_path())
    env["ROS_LOG_DIR"] = str(log_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class RosGraph:
    """A set of processes sharing one private domain. Use as a context manager.

    >>> with RosGraph() as graph:
    ...     graph.start("sink", ["kvision_transport_sink", "--ros-args", "-p", "count:=10"])
    """

    def __init__(self, log_dir: Path | None = None, domain_id: int | None = None) -> None:
        self._lease = DomainLease(domain_id)
        self.domain_id = self._lease.domain_id
        self._own_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="kvision-graph-")) if log_dir is None else Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = graph_environment(self.domain_id, self.log_dir)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> RosGraph:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``command`` (a console script of this package or any program) as process ``name``."""
        if name in self.processes and self.processes[name].poll() is None:
            raise RuntimeError(f"process {name!r} is already running")
        executable = shutil.which(
            command[0], path=str(Path(sys.executable).parent) + os.pathsep + self.env.get("PATH", "")
        )
        argv = [executable or command[0], *command[1:]]
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by the child's exit
        process = subprocess.Popen(
            argv, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def stop(self, name: str, timeout_s: float = 5.0, sig: int = signal.SIGINT) -> int | None:
        """Stop a process: ``sig`` (SIGINT, like Ctrl-C in ros2 launch), then SIGTERM, then SIGKILL."""
        process = self.processes.get(name)
        if process is None:
            return None
        for signal_to_send, wait_s in ((sig, timeout_s), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, signal_to_send)
            except ProcessLookupError:
                break
            try:
                process.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
        return process.poll()

    def kill(self, name: str) -> int | None:
        """Kill without warning (a crash, for fault tests)."""
        return self.stop(name, timeout_s=2.0, sig=signal.SIGKILL)

    def wait(self, name: str, timeout_s: float) -> int:
        """Wait for a process to exit by itself; raises TimeoutError with its log tail if it does not."""
        try:
            return self.processes[name].wait(timeout_s)
        except subprocess.TimeoutExpired as error:
            raise TimeoutError(f"{name} still running after {timeout_s} s; log:\n{self.log(name)[-3000:]}") from error

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        clean_shared_memory()
        self._lease.release()
        if self._own_log_dir and os.environ.get("KVISION_KEEP_LOGS") != "1":
            shutil.rmtree(self.log_dir, ignore_errors=True)


def clean_shared_memory() -> None:
    """Remove Fast DDS shared-memory segments left by killed processes (``fastdds shm clean``).

    Only segments whose owners are gone are removed; live participants are untouched.
    """
    tool = Path(sys.executable).parent / "fastdds"
    if not tool.exists():
        return
    subprocess.run(
        [str(tool), "shm", "clean"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False
    )
