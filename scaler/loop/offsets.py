"""Where the loop's offsets come from, behind a Protocol, with the in-memory fake the tests drive.

No Kafka client here, so the loop and its tests do not import confluent-kafka.
"""

from __future__ import annotations

from typing import Protocol

from kafkakit.errors import BrokerError
from scaler.errors import OffsetsError
from scaler.keda.lag import PartitionOffsets


class OffsetSource(Protocol):
    """One evaluation's offsets (a cluster, or a fake), rebuildable after an error."""

    def fetch(self) -> list[PartitionOffsets]: ...

    def reset(self) -> None:
        """Drop the client, so the next fetch starts like a newly built KEDA scaler (section 3.6)."""
        ...


class FakeOffsetSource:
    """Offsets set directly: `lag[p]` messages behind on partition p; failures on demand: the next
    `failures_left` fetches raise `failure` (by default a request a connected client could not
    complete; a kafkakit BrokerError stands for a client that could not connect)."""

    def __init__(self, partitions: int, topic: str = "orders", committed: int = 100) -> None:
        self.topic = topic
        self.lag = dict.fromkeys(range(partitions), 0)
        self.committed = dict.fromkeys(range(partitions), committed)
        self.failures_left = 0
        self.failure: BrokerError = OffsetsError("fake:9092 did not answer within 10s", retriable=True)
        self.calls = 0
        self.resets = 0

    def set_total_lag(self, total: int) -> None:
        """Spread `total` evenly over the partitions (the first ones get the remainder)."""
        count = len(self.lag)
        for partition in self.lag:
            self.lag[partition] = total // count + (1 if partition < total % count else 0)

    def fetch(self) -> list[PartitionOffsets]:
        self.calls += 1
        if self.failures_left:
            self.failures_left -= 1
            raise self.failure
        return [
            PartitionOffsets(self.topic, p, self.committed[p], self.committed[p] + self.lag[p])
            for p in sorted(self.lag)
        ]

    def reset(self) -> None:
        """Nothing to reconnect; counted so tests can see the rebuild."""
        self.resets += 1
