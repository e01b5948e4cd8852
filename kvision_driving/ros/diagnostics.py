"""Per-node health for /diagnostics: timing, rates, drops, bad inputs, latency, backend, state.

:class:`NodeHealth` is plain Python (thread-safe counters and bounded windows); the node base
turns it into a diagnostic_msgs/DiagnosticArray once a period.
"""

from __future__ import annotations

import threading
from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from kvision_driving.core.stats import RateMeter, RollingSamples

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


#: Distinct reasons kept per counter; later new ones are counted together, so a stream of bad messages that
#: each say something different (sizes, ids) cannot grow a node's memory without bound.
MAX_REASONS = 32
OTHER_REASONS = "other reasons"


def _count(counter: Counter[str], reason: str) -> None:
    """At most MAX_REASONS entries, OTHER_REASONS included."""
    if reason not in counter and len(counter) - (OTHER_REASONS in counter) >= MAX_REASONS - 1:
        reason = OTHER_REASONS
    counter[reason] += 1


class NodeHealth:
    """What a node reports about itself. All methods may be called from any thread."""

    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self._window = window
        self.processing_ms = RollingSamples(window)
        self.latency_ms = RollingSamples(window)
        self.input_age_ms = RollingSamples(window)  # how old inputs are when work on them starts
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self.inputs = 0
        self.processed = 0
        self.dropped = 0
        self.bad_inputs: Counter[str] = Counter()
        self.out_of_order: Counter[str] = Counter()
        self.stale: Counter[str] = Counter()
        self.backend = ""
        self._state = OK
        self._state_reason = "running"
        self._extra: dict[str, str] = {}
        self._timings: dict[str, RollingSamples] = {}

    def on_input(self, now_s: float) -> None:
        with self._lock:
            self.inputs += 1
            self.input_rate.tick(now_s)

    def on_drop(self, count: int = 1) -> None:
        with self._lock:
            self.dropped += count

    def on_bad_input(self, reason: str) -> None:
        """Count a skipped input under a short reason (e.g. ``image: size mismatch``)."""
        with self._lock:
            _count(self.bad_inputs, reason)

    def on_out_of_order(self, what: str) -> None:
        """Count a well-formed input skipped for its stamp (e.g. ``points: duplicate``)."""
        with self._lock:
            _count(self.out_of_order, what)

    def on_input_age(self, age_ms: float) -> None:
        """How old an input is (its stamp against the node's clock) when the node starts on it."""
        with self._lock:
            self.input_age_ms.add(age_ms)

    def on_stale(self, stream: str) -> None:
        """Count an input dropped because it was already older than the node's budget when its turn came."""
        with self._lock:
            _count(self.stale, stream)

    def on_processed(self, processing_ms: float, now_s: float, latency_ms: float | None = None) -> None:
        with self._lock:
            self.processed += 1
            self.processing_ms.add(processing_ms)
            self.output_rate.tick(now_s)
            if latency_ms is not None:
                self.latency_ms.add(latency_ms)

    def set_state(self, level: bytes | int, reason: str) -> None:
        with self._lock:
            self._state = level
            self._state_reason = reason

    def add_timing(self, name: str, milliseconds: float) -> None:
        """A named stage time (e.g. ``model``); reported as <name>_ms_p50 and _p99."""
        with self._lock:
            self._timings.setdefault(name, RollingSamples(self._window)).add(milliseconds)

    def set_value(self, key: str, value: object) -> None:
        """An extra key shown in /diagnostics (e.g. tracker state, model name)."""
        with self._lock:
            self._extra[key] = str(value)

    def state(self) -> tuple[bytes | int, str]:
        with self._lock:
            return self._state, self._state_reason

    def snapshot(self, now_s: float) -> dict[str, object]:
        """Everything reported, as plain values (also used by benchmarks and tests)."""
        with self._lock:
            timing = self.processing_ms.summary()
            latency = self.latency_ms.summary()
            age = self.input_age_ms.summary()
            return {
                "state": int.from_bytes(self._state, "little") if isinstance(self._state, bytes) else int(self._state),
                "reason": self._state_reason,
                "backend": self.backend,
                "inputs": self.inputs,
                "processed": self.processed,
                "dropped": self.dropped,
                "bad_inputs": sum(self.bad_inputs.values()),
                "bad_input_reasons": dict(self.bad_inputs),
                "out_of_order": sum(self.out_of_order.values()),
                "out_of_order_reasons": dict(self.out_of_order),
                "stale": sum(self.stale.values()),
                "stale_reasons": dict(self.stale),
                "input_age_ms_p50": age["p50"],
                "input_age_ms_p99": age["p99"],
                "input_rate_hz": self.input_rate.rate(now_s),
                "output_rate_hz": self.output_rate.rate(now_s),
                "processing_ms_p50": timing["p50"],
                "processing_ms_p95": timing["p95"],
                "processing_ms_p99": timing["p99"],
                "processing_ms_max": timing["max"],
                "latency_ms_p50": latency["p50"],
                "latency_ms_p99": latency["p99"],
                **{f"{name}_ms_p50": samples.percentile(50) for name, samples in self._timings.items()},
                **{f"{name}_ms_p99": samples.percentile(99) for name, samples in self._timings.items()},
                **self._extra,
            }


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return "; ".join(f"{key}={count}" for key, count in sorted(value.items())) or "none"
    return str(value)


def health_to_status(node_name: str, hardware_id: str, health: NodeHealth, now_s: float) -> DiagnosticStatus:
    snapshot = health.snapshot(now_s)
    level, reason = health.state()
    if level == OK and snapshot["bad_inputs"]:
        # Still running, but something upstream is wrong: say so without hiding it behind OK.
        level, reason = WARN, f"{snapshot['bad_inputs']} bad inputs skipped"
    status = DiagnosticStatus(level=level, name=f"kvision: {node_name}", message=reason, hardware_id=hardware_id)
    status.values = [
        KeyValue(key=key, value=_format(value)) for key, value in snapshot.items() if key not in ("state", "reason")
    ]
    return status


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    return {item.key: item.value for item in status.values}


#: A node reports the size of each thing it buffers as ``buffered_<name>`` (KvisionNode.buffered).
BUFFERED_PREFIX = "buffered_"


def buffer_sizes(values: dict[str, str]) -> dict[str, int]:
    """The ``buffered_*`` sizes among a node's status values, keys as reported."""
    return {key: int(value) for key, value in values.items() if key.startswith(BUFFERED_PREFIX)}


def make_array(statuses: list[DiagnosticStatus], header_stamp: object | None = None) -> DiagnosticArray:
    array = DiagnosticArray()
    if header_stamp is not None:
        array.header.stamp = header_stamp
    array.status = statuses
    return array
