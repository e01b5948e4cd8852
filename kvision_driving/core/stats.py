"""Bounded rolling statistics for timing and rates (what /diagnostics and benchmarks report)."""

from __future__ import annotations

from collections import deque

import numpy as np


class RollingSamples:
    """The last ``capacity`` samples of a quantity, with percentiles; memory is bounded."""

    def __init__(self, capacity: int = 1000) -> None:
        self._samples: deque[float] = deque(maxlen=capacity)

    def add(self, value: float) -> None:
        self._samples.append(float(value))

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100), NaN when empty."""
        if not self._samples:
            return float("nan")
        return float(np.percentile(np.fromiter(self._samples, dtype=np.float64), q))

    def summary(self) -> dict[str, float]:
        if not self._samples:
            return {"count": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
        values = np.fromiter(self._samples, dtype=np.float64)
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return {
            "count": len(values),
            "p50": float(p50),
            "p95": float(p95),
            "p99": float(p99),
            "max": float(values.max()),
        }


class RateMeter:
    """Event rate over a sliding window of monotonic timestamps (seconds)."""

    def __init__(self, window_s: float = 5.0, capacity: int = 10000) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque(maxlen=capacity)

    def tick(self, now_s: float) -> None:
        self._times.append(now_s)

    def rate(self, now_s: float) -> float:
        while self._times and now_s - self._times[0] > self._window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def latency_summary_ms(latencies_ns: list[int] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds of a list of nanosecond latencies."""
    values = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    if values.size == 0:
        return {
            "count": 0,
            "p50_ms": float("nan"),
            "p95_ms": float("nan"),
            "p99_ms": float("nan"),
            "max_ms": float("nan"),
            "mean_ms": float("nan"),
        }
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": int(values.size),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(values.max()),
        "mean_ms": float(values.mean()),
    }
