"""The partitions a group member owns, as its rebalance callbacks report them.

With an incremental protocol (consumer / KIP-848, cooperative-sticky) a callback names only the
partitions that move; with an eager one (range, roundrobin) a revoke names all of them and the
next assign the whole new set. Adding and removing what each callback names covers both.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Message, TopicPartition

Partition = tuple[str, int]


def partition_keys(partitions: Iterable[TopicPartition]) -> list[Partition]:
    return [(str(tp.topic), int(tp.partition)) for tp in partitions]


class Assignment:
    """What this member owns now, and whether a revoke happened since the last fetch."""

    def __init__(self) -> None:
        self._owned: set[Partition] = set()
        self._revoked_since_fetch = False

    def __len__(self) -> int:
        return len(self._owned)

    def __contains__(self, partition: object) -> bool:
        return partition in self._owned

    def assigned(self, partitions: Iterable[Partition]) -> None:
        self._owned.update(partitions)

    def revoked(self, partitions: Iterable[Partition]) -> None:
        self._owned.difference_update(partitions)
        self._revoked_since_fetch = True

    def owned_only(self, messages: list[Message]) -> list[Message]:
        """`messages` (one consume() call's batch) without those of partitions revoked while it
        was gathered. librdkafka drops a revoked partition's queued events, but events already
        gathered into the batch can still be among them; processing them would repeat work the
        new owner does from the commit made on revoke. Checked only after a revoke: per event,
        the lookup would cost as much as decoding it. Errors are kept (they are not events)."""
        if not self._revoked_since_fetch:
            return messages
        self._revoked_since_fetch = False
        owned = self._owned
        return [m for m in messages if m.error() is not None or (m.topic(), m.partition()) in owned]
