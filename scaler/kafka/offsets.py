"""Offsets of consumer groups from a real cluster, read the way KEDA's kafka scaler reads them.

`KafkaOffsetSource` is one evaluation's OffsetSource (one query, one client: `lagscale lag`,
`scale`, the demo); `KafkaBatchReader` reads many queries through one shared client (the external
scaler's rounds). Both send what scaler.kafka.batch describes: a fixed handful of requests per
read, whatever the partition count (semantics section 2.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka.admin import AdminClient

from scaler.kafka.admin import connect
from scaler.kafka.batch import read_offsets
from scaler.kafka.connection import KafkaConnection, connection_from_trigger
from scaler.kafka.query import BatchResult, OffsetQuery
from scaler.keda.fixes import Fixes
from scaler.keda.lag import PartitionOffsets
from scaler.keda.trigger import KafkaTrigger

__all__ = ["KafkaBatchReader", "KafkaOffsetSource", "OffsetQuery"]


class KafkaBatchReader:
    """Reads the offsets of many queries on one cluster through one AdminClient, kept until
    `reset()`: connected on the first read, and again on the first read after a reset."""

    def __init__(
        self, connection: KafkaConnection, *, timeout: float = 10.0, admin: AdminClient | None = None
    ):
        self.connection = connection
        self.timeout = timeout
        self._admin = admin

    def admin(self) -> AdminClient:
        """The AdminClient, connected (and checked) on first use; kafkakit's BrokerError otherwise."""
        if self._admin is None:
            self._admin = connect(self.connection, self.timeout)
        return self._admin

    def read(self, queries: Iterable[OffsetQuery]) -> BatchResult:
        """Every query's offsets or error; BrokerError when the client cannot connect at all."""
        admin = self.admin()
        admin.poll(0)  # serve queued client events (error callbacks) so a long-lived client keeps none
        return read_offsets(admin, queries, self.timeout)

    def reset(self) -> None:
        """KEDA rebuilds a failing scaler with a new client: the next read connects afresh."""
        self._admin = None  # librdkafka closes the client when the last reference goes

    def close(self) -> None:
        self.reset()


class KafkaOffsetSource:
    """One query's offsets with its own AdminClient, kept until `reset()` (an OffsetSource)."""

    def __init__(
        self,
        connection: KafkaConnection,
        query: OffsetQuery,
        *,
        timeout: float = 10.0,
        admin: AdminClient | None = None,
    ) -> None:
        self.query = query
        self.requests_last_evaluation = 0
        self._reader = KafkaBatchReader(connection, timeout=timeout, admin=admin)

    @classmethod
    def for_trigger(
        cls, trigger: KafkaTrigger, fixes: Fixes | None = None, *, timeout: float = 10.0
    ) -> KafkaOffsetSource:
        return cls(connection_from_trigger(trigger), OffsetQuery.for_trigger(trigger, fixes), timeout=timeout)

    @property
    def connection(self) -> KafkaConnection:
        return self._reader.connection

    def fetch(self) -> list[PartitionOffsets]:
        result = self._reader.read([self.query])
        self.requests_last_evaluation = result.requests
        return result.of(self.query)

    def reset(self) -> None:
        self._reader.reset()

    def close(self) -> None:
        self._reader.close()
