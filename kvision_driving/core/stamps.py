"""Order of a stream's stamps: new, a duplicate, a little late (reordered), or a jump back (bag loop, reset).

Nodes skip duplicates and late messages (counted) instead of, say, resetting a tracker for one
reordered sweep, and start over cleanly when time jumps far back.
"""

from __future__ import annotations

from enum import Enum


class StampOrder(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    LATE = "late"
    JUMP_BACK = "jump_back"

    @property
    def skip(self) -> bool:
        return self in (StampOrder.DUPLICATE, StampOrder.LATE)


class StampGate:
    """Classifies each stamp of one stream against the newest seen; a jump back starts a new timeline."""

    def __init__(self, jump_back_ns: int = 500_000_000) -> None:
        self.jump_back_ns = jump_back_ns
        self.newest_ns: int | None = None

    def check(self, stamp_ns: int) -> StampOrder:
        newest = self.newest_ns
        if newest is None or stamp_ns > newest:
            self.newest_ns = stamp_ns
            return StampOrder.NEW
        if stamp_ns == newest:
            return StampOrder.DUPLICATE
        if stamp_ns >= newest - self.jump_back_ns:
            return StampOrder.LATE
        self.newest_ns = stamp_ns
        return StampOrder.JUMP_BACK

    def reset(self) -> None:
        self.newest_ns = None


class RateWindows:
    """At most one item per 1/rate_hz window of stamp time (all items when ``rate_hz`` is 0).

    Windows follow stamps, not arrival, so two sensors at the same rate and phase (a simulator's camera
    and lidar) pick matching instants, and a replay at any speed picks the same messages."""

    def __init__(self, rate_hz: float) -> None:
        self.period_ns = round(1e9 / rate_hz) if rate_hz > 0 else 0
        self._taken: int | None = None
        self.limited = 0

    def open(self, stamp_ns: int) -> bool:
        """Whether ``stamp_ns`` falls in a window that has no item yet."""
        return not self.period_ns or stamp_ns // self.period_ns != self._taken

    def take(self, stamp_ns: int) -> bool:
        """Claim the window of ``stamp_ns``; False (counted in ``limited``) when it already has its item."""
        if not self.open(stamp_ns):
            self.limited += 1
            return False
        if self.period_ns:
            self._taken = stamp_ns // self.period_ns
        return True

    def reset(self) -> None:
        self._taken = None
