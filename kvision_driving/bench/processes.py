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

    def summary(self, since_s: float = -np.inf, until_s: float = np.inf) -> dict[str, float]:
        """Mean and peak CPU and memory over samples taken between ``since_s`` and ``until_s`` (monotonic)."""
        inside = [since_s <= t <= until_s for t in self.times_s]
        inside[0:1] = [False]  # the first psutil CPU reading of a process is always 0
        cpu = np.asarray([c for c, keep in zip(self.cpu_percent, inside, strict=True) if keep] or [np.nan])
        rss = np.asarray([r for r, keep in zip(self.rss_bytes, inside, strict=True) if keep] or [0]) / 2**20
        return {
            "cpu_percent_mean": float(np.nanmean(cpu)),
            "cpu_percent_max": float(np.nanmax(cpu)),
            "rss_mb_max": float(rss.max()),
            "rss_mb_last": float(rss[-1]),
        }


class ProcessSampler:
    """Samples every ``period_s`` the processes named in ``pids`` (a live mapping: a restarted process is
    followed by name). Each process alone, without its children."""

    def __init__(self, pids: dict[str, int], period_s: float = 0.5) -> None:
        self._pids = pids
        self.period_s = period_s
        self.series: dict[str, ProcessSeries] = {}
        self._handles: dict[tuple[str, int], psutil.Process | None] = {}
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

    def _process(self, name: str, pid: int) -> psutil.Process | None:
        key = (name, pid)
        if key not in self._handles:
            try:
                self._handles[key] = psutil.Process(pid)
            except psutil.Error:
                self._handles[key] = None
        return self._handles[key]

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name, pid in list(self._pids.items()):
                process = self._process(name, pid)
                if process is None:
                    continue
                try:
                    cpu, rss = process.cpu_percent(None), process.memory_info().rss
                except psutil.Error:
                    continue
                series = self.series.setdefault(name, ProcessSeries())
                series.times_s.append(now)
                series.cpu_percent.append(cpu)
                series.rss_bytes.append(rss)
            self._stop.wait(self.period_s)

    def summary(self, since_s: float = -np.inf, until_s: float = np.inf) -> dict[str, dict[str, float]]:
        return {name: series.summary(since_s, until_s) for name, series in self.series.items()}
