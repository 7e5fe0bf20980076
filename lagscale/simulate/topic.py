"""The simulated topic: log-end and committed offsets per partition; an OffsetSource for the loop.

Events land on partitions as the producer's keys put them (lagscale.simulate.keys). Offsets move
only by producing (log end) and by the consumers' commits; lag is their distance, exactly what
KEDA reads from a real broker.
"""

from __future__ import annotations

from lagscale.simulate.keys import KeySpread
from scaler.keda.lag import PartitionOffsets

SIMULATED_TOPIC = "simulated"


class SimulatedTopic:
    def __init__(self, topic: str, partitions: int, keys: KeySpread | None = None) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.topic = topic
        self.latest = [0] * partitions
        self.committed = [0] * partitions
        self._partitioner = (keys or KeySpread("even")).partitioner(partitions)
        self.produced = 0

    @property
    def partitions(self) -> int:
        return len(self.latest)

    def partition_lags(self) -> list[int]:
        return [latest - committed for latest, committed in zip(self.latest, self.committed, strict=True)]

    def total_lag(self) -> int:
        return sum(self.partition_lags())

    def fetch(self) -> list[PartitionOffsets]:
        """Offsets as the scaler would read them from the broker."""
        return [
            PartitionOffsets(self.topic, partition, committed, latest, log_start=0)
            for partition, (committed, latest) in enumerate(zip(self.committed, self.latest, strict=True))
        ]

    def reset(self) -> None:
        """No client to rebuild: the simulated broker never fails."""

    def produce(self, events: int) -> None:
        """Append `events` records where their keys send them."""
        if events <= 0:
            return
        for partition, count in enumerate(self._partitioner.split(events)):
            self.latest[partition] += count
        self.produced += events

    def commit(self, partition: int, offset: int) -> None:
        """A member commits `offset` (the next one to read); a commit never moves backwards here,
        as only the partition's owner commits."""
        self.committed[partition] = max(self.committed[partition], offset)
