"""CPU and memory of a graph's processes over time, sampled from a background thread (psutil)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
import psutil


@dataclass
class ProcessSeries:
    """One process's samples: monotonic time, CPU percent (100 = one core), resident memory in bytes."""

    times_s: list[float] = field(default_factory=list)
    cpu_percent: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        cpu = np.asarray(self.cpu_percent[1:] or [np.nan])  # the first psutil reading is always 0
        rss = np.asarray(self.rss_bytes or [0]) / 2**20
        return {
            "cpu_percent_mean": float(np.nanmean(cpu)),
            "cpu_percent_max": float(np.nanmax(cpu)),
            "rss_mb_max": float(rss.max()),
            "rss_mb_last": float(rss[-1]),
        }


class ProcessSampler:
    """Samples every ``period_s`` the processes named in ``pids`` (a live mapping: restarted processes are
    followed by name), each with its children (a console script may exec a Python child)."""

    def __init__(self, pids: dict[str, int], period_s: float = 0.5) -> None:
        self._pids = pids
        self.period_s = period_s
        self.series: dict[str, ProcessSeries] = {}
        self._handles: dict[tuple[str, int], list[psutil.Process]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _processes(self, name: str, pid: int) -> list[psutil.Process]:
        key = (name, pid)
        if key not in self._handles:
            try:
                root = psutil.Process(pid)
                self._handles[key] = [root, *root.children(recursive=True)]
            except psutil.Error:
                self._handles[key] = []
        return self._handles[key]

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name, pid in list(self._pids.items()):
                cpu, rss, alive = 0.0, 0, False
                for process in self._processes(name, pid):
                    try:
                        cpu += process.cpu_percent(None)
                        rss += process.memory_info().rss
                        alive = True
                    except psutil.Error:
                        continue
                if alive:
                    series = self.series.setdefault(name, ProcessSeries())
                    series.times_s.append(now)
                    series.cpu_percent.append(cpu)
                    series.rss_bytes.append(rss)
            self._stop.wait(self.period_s)

    def summary(self) -> dict[str, dict[str, float]]:
        return {name: series.summary() for name, series in self.series.items()}
