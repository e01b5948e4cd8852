"""core/stats.py by hand: bounded samples and their percentiles, an event rate, latency summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kvision_driving.core.stats import RateMeter, RollingSamples, latency_summary_ms


def test_rolling_samples_keep_the_newest_and_summarise_them() -> None:
    samples = RollingSamples(capacity=4)
    for value in (100, 1, 2, 3, 4):  # 100 falls out
        samples.add(value)
    assert len(samples) == 4
    assert samples.percentile(0) == 1.0 and samples.percentile(100) == 4.0 and samples.percentile(50) == 2.5
    assert samples.summary() == {
        "count": 4,
        "p50": 2.5,
        "p95": pytest.approx(3.85),
        "p99": pytest.approx(3.97),
        "max": 4.0,
    }


def test_empty_samples_summarise_as_not_a_number() -> None:
    summary = RollingSamples().summary()
    assert summary["count"] == 0 and set(summary) == {"count", "p50", "p95", "p99", "max"}
    assert all(math.isnan(summary[key]) for key in ("p50", "p95", "p99", "max"))


def test_rate_over_the_window_kept_at_its_edge_and_dropped_past_it() -> None:
    meter = RateMeter(window_s=1.0)
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        meter.tick(t)
    assert meter.rate(1.0) == pytest.approx(4.0)  # 4 intervals over 1 s: the tick 1 s old still counts
    assert meter.rate(1.3) == pytest.approx(3 / 0.75)  # 0.0 and 0.25 are now older than the window
    assert meter.rate(1.75) == pytest.approx(4.0)  # 0.75 and 1.0: one interval of 0.25 s
    assert meter.rate(2.1) == 0.0  # a single tick is no rate


def test_ticks_at_one_instant_are_no_rate_and_the_history_is_bounded() -> None:
    meter = RateMeter(window_s=10.0)
    meter.tick(3.0)
    meter.tick(3.0)
    assert meter.rate(3.0) == 0.0
    bounded = RateMeter(window_s=100.0, capacity=3)
    for t in (0.0, 1.0, 2.0, 2.5):
        bounded.tick(t)
    assert bounded.rate(2.5) == pytest.approx(2 / 1.5)  # the first tick fell out of the three kept


def test_latency_summary_in_milliseconds() -> None:
    latencies_ns = np.arange(1, 101) * 1_000_000  # 1..100 ms
    summary = latency_summary_ms(latencies_ns)
    assert summary == {
        "count": 100,
        "p50_ms": pytest.approx(50.5),
        "p95_ms": pytest.approx(95.05),
        "p99_ms": pytest.approx(99.01),
        "max_ms": 100.0,
        "mean_ms": pytest.approx(50.5),
    }
    assert latency_summary_ms([1_000_000, 2_000_000, 6_000_000])["mean_ms"] == pytest.approx(3.0)  # median 2


def test_no_latencies_summarise_as_not_a_number() -> None:
    summary = latency_summary_ms([])
    assert summary["count"] == 0
    assert set(summary) == {"count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"}
    assert all(math.isnan(value) for key, value in summary.items() if key != "count")


def test_defaults_keep_1000_samples_and_rate_over_5_seconds_of_up_to_10000_ticks() -> None:
    samples = RollingSamples()
    for value in range(1001):
        samples.add(float(value))
    assert len(samples) == 1000 and samples.summary()["max"] == 1000.0 and samples.percentile(0) == 1.0
    meter = RateMeter()
    for tick in (0.0, *(1.0 + 0.5 * k for k in range(9))):  # one tick, then 2 Hz from 1 s to 5 s
        meter.tick(tick)
    assert meter.rate(5.0) == pytest.approx(9 / 5.0)  # the first tick is exactly 5 s old: still in
    assert meter.rate(5.25) == pytest.approx(8 / 4.0)  # now it is out of the 5 s window
    busy = RateMeter(window_s=1e6)
    busy.tick(-100.0)
    for tick in range(10_000):
        busy.tick(tick * 1e-3)
    assert busy.rate(10.0) == pytest.approx(9_999 / 9.999)  # the tick at -100 s fell out: 10,000 remain
