"""Approximate-time matching of several input streams (message_filters is not on pip machines).

Bounded: each input keeps at most ``queue_size`` messages; a message that is pushed out or
passed over without being matched counts as dropped. A stamp far older than the newest seen
(a bag loop, a simulator reset) clears every queue, so stale halves never pair with new ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class ApproximateTimeSync(Generic[T]):
    def __init__(
        self, inputs: int, max_offset_ns: int, queue_size: int = 10, reset_jump_ns: int = 1_000_000_000
    ) -> None:
        if inputs < 2:
            raise ValueError("synchronising needs at least two inputs")
        if max_offset_ns < 0 or queue_size < 1:
            raise ValueError("max_offset_ns must be >= 0 and queue_size >= 1")
        self.max_offset_ns = max_offset_ns
        self.reset_jump_ns = reset_jump_ns
        self._queues: list[deque[tuple[int, T]]] = [deque() for _ in range(inputs)]
        self._queue_size = queue_size
        self._newest_ns: int | None = None
        self.dropped = 0
        self.resets = 0

    def reset(self) -> None:
        for queue in self._queues:
            self.dropped += len(queue)
            queue.clear()
        self._newest_ns = None
        self.resets += 1

    def add(self, index: int, stamp_ns: int, message: T) -> Sequence[T] | None:
        """Add a message; returns one message per input when a set within ``max_offset_ns`` is complete."""
        if self._newest_ns is not None and stamp_ns < self._newest_ns - self.reset_jump_ns:
            self.reset()
        self._newest_ns = stamp_ns if self._newest_ns is None else max(self._newest_ns, stamp_ns)
        queue = self._queues[index]
        queue.append((stamp_ns, message))
        if len(queue) > self._queue_size:
            queue.popleft()
            self.dropped += 1
        return self._match(stamp_ns)

    def _match(self, pivot_ns: int) -> Sequence[T] | None:
        chosen: list[int] = []
        for queue in self._queues:
            if not queue:
                return None
            position = min(range(len(queue)), key=lambda i: abs(queue[i][0] - pivot_ns))
            if abs(queue[position][0] - pivot_ns) > self.max_offset_ns:
                return None
            chosen.append(position)
        stamps = [self._queues[i][p][0] for i, p in enumerate(chosen)]
        if max(stamps) - min(stamps) > self.max_offset_ns:
            return None
        result = []
        for index, position in enumerate(chosen):
            queue = self._queues[index]
            result.append(queue[position][1])
            self.dropped += position  # older ones were never matched and never will be
            for _ in range(position + 1):
                queue.popleft()
        return result
