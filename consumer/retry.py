"""Partitions held back because a dead letter could not be stored.

An invalid event whose dead-letter write failed is neither committed nor skipped: the worker
pauses its partition, seeks back to it and retries after a backoff that starts at 1 s and doubles
up to 30 s, while the other partitions go on. This is the bookkeeping for that (no I/O, a clock
passed in); the worker does the pause, seek and resume calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from consumer.commits import Partition

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0


@dataclass
class _Held:
    offset: int  # the event that could not be dead-lettered
    failures: int
    retry_at: float
    resumed: bool = False


class DeadLetterRetries:
    """Which partitions wait for a dead-letter retry, and when each may try again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[Partition, _Held] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def failed(self, partition: Partition, offset: int) -> tuple[float, int]:
        """The dead letter of the event at `offset` failed: (seconds until the retry, failures so far)."""
        held = self._held.get(partition)
        failures = held.failures + 1 if held and held.offset == offset else 1
        delay = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (failures - 1))
        self._held[partition] = _Held(offset, failures, self._clock() + delay)
        return delay, failures

    def is_retry(self, partition: Partition, offset: int) -> bool:
        """True when the event at `offset` is one already seen and held back (count it once)."""
        held = self._held.get(partition)
        return held is not None and held.offset == offset

    def take_due(self) -> list[Partition]:
        """Partitions whose wait is over and that are not resumed yet; they count as resumed now."""
        now = self._clock()
        due = [p for p, held in self._held.items() if not held.resumed and held.retry_at <= now]
        for partition in due:
            self._held[partition].resumed = True
        return due

    def settled(self, partition: Partition, offset: int) -> None:
        """The event at `offset` was handled: the partition is free again if it was held at or before it."""
        held = self._held.get(partition)
        if held is not None and held.offset <= offset:
            del self._held[partition]

    def forget(self, partitions: Iterable[Partition]) -> list[Partition]:
        """Partitions revoked or lost: whoever owns them next starts from the committed offset.
        Returns those of them that were held back."""
        return [partition for partition in partitions if self._held.pop(partition, None)]
