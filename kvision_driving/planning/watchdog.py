"""The safety watchdog: are the planner's inputs fresh, and is every monitored node healthy?

Freshness is judged by arrival on the caller's clock, not on message stamps (a sensor's stamp says
when it measured, not whether its node is alive). The planning node uses its ROS clock: wall time on
a vehicle, simulated time under use_sim_time, so a lockstep simulator waiting for a slow stack does
not look like a dead one. When the watchdog trips, the planner publishes a controlled stop until it
clears.
"""

from __future__ import annotations

from collections.abc import Iterable


class InputWatchdog:
    def __init__(self, required: Iterable[str], max_age_s: float = 0.3) -> None:
        self.max_age_s = max_age_s
        self.required = tuple(required)
        self.last_seen: dict[str, float] = {}
        self.node_errors: dict[str, str] = {}

    def seen(self, name: str, now_s: float) -> None:
        self.last_seen[name] = now_s

    def node_status(self, node: str, is_error: bool, message: str = "") -> None:
        """A monitored node's /diagnostics level: ERROR trips the watchdog until the node reports otherwise."""
        if is_error:
            self.node_errors[node] = message or "error"
        else:
            self.node_errors.pop(node, None)

    def problems(self, now_s: float) -> list[str]:
        """Why planning must stop now; empty when all is well."""
        out = []
        for name in self.required:
            seen = self.last_seen.get(name)
            if seen is not None and seen > now_s:  # the clock went back (bag loop, simulator restart):
                seen = self.last_seen[name] = now_s  # ages count from now, or a dead input would never be stale
            if seen is None:
                out.append(f"no {name} yet")
            elif now_s - seen > self.max_age_s:
                out.append(f"{name} stale ({(now_s - seen) * 1e3:.0f} ms)")
        out.extend(f"{node} in ERROR: {message}" for node, message in sorted(self.node_errors.items()))
        return out
