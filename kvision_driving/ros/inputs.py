"""Keep-latest input handling: a slow consumer processes the newest message and counts the rest as dropped."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-message mailbox. ``put`` never blocks; an unconsumed message it replaces is a drop."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced one that was never processed."""
        with self._condition:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._condition.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (clearing the slot), or None on timeout or after close()."""
        with self._condition:
            if self._item is None and not self._closed:
                self._condition.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def clear(self) -> int:
        """Forget a pending item (e.g. after a clock jump); returns 1 if one was dropped."""
        with self._condition:
            pending = int(self._item is not None)
            self._item = None
            self.dropped += pending
            return pending

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def pending(self) -> int:
        """Messages waiting for the worker: 0 or 1."""
        return int(self._item is not None)

    @property
    def closed(self) -> bool:
        return self._closed
