"""Which processed offsets still need committing, and when.

Offsets are committed in batches, at most once per `interval` (Event Hubs throttles commits to
about 4 per second per partition), plus on partition revocation and on shutdown. The tracker is
pure bookkeeping; the worker does the actual commit call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

Partition = tuple[str, int]


class CommitTracker:
    """Remembers the next offset to commit per partition and what the broker has accepted."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last_attempt = clock()
        self._pending: dict[Partition, int] = {}
        self.committed: dict[Partition, int] = {}

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """The event at `offset` is done: the group may resume after it."""
        self._pending[(topic, partition)] = offset + 1

    def pending(self) -> dict[Partition, int]:
        """Next offsets to commit, per partition."""
        return dict(self._pending)

    def due(self) -> bool:
        """True when there is something to commit and the interval has passed since the last try."""
        return bool(self._pending) and self._clock() - self._last_attempt >= self._interval

    def attempted(self) -> None:
        """A commit is being tried now (a failed one is retried after the interval, not at once)."""
        self._last_attempt = self._clock()

    def accepted(self, offsets: Iterable[tuple[str, int, int]]) -> None:
        """Record offsets the broker confirmed; pending entries they cover are done."""
        for topic, partition, offset in offsets:
            if offset < 0:  # librdkafka reports partitions without a stored offset as negative
                continue
            key = (topic, partition)
            self.committed[key] = offset
            if self._pending.get(key, offset + 1) <= offset:
                del self._pending[key]

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop pending offsets of partitions we no longer own (they can no longer be committed)."""
        for key in partitions:
            self._pending.pop(key, None)

    @property
    def total_committed(self) -> int:
        """Sum of committed offsets, i.e. events done across partitions that started at 0."""
        return sum(self.committed.values())
