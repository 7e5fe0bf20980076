"""One Kafka client per distinct connection, shared by every ScaledObject that uses it.

A connection is everything that decides how a trigger reaches its cluster: the bootstrap servers,
the SASL mode and credentials, the TLS settings and material (scaler.kafka.connection's
KafkaConnection, compared whole). ScaledObjects with equal connections join one round scheduler
(scaler.grpc.rounds) and so share one AdminClient; when the last of them leaves, the client is closed.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kafkakit.logs import log_event
from scaler.grpc.rounds import BatchReader, Member, RoundScheduler
from scaler.kafka.connection import KafkaConnection
from scaler.kafka.offsets import KafkaBatchReader
from scaler.kafka.query import OffsetQuery
from scaler.loop.clock import Clock

logger = logging.getLogger("scaler.grpc")

ReaderFactory = Callable[[KafkaConnection, float], BatchReader]
# A round is a handful of batched requests, each bounded by the timeout (connect, group offsets,
# metadata, log offsets, log starts); a caller waits for at most this many of them.
_ROUND_STEPS = 6


def kafka_reader(connection: KafkaConnection, timeout: float) -> BatchReader:
    return KafkaBatchReader(connection, timeout=timeout)


@dataclass(frozen=True)
class ConnectionStats:
    """What one shared connection serves (for logs, tests and the benchmark)."""

    name: str
    members: int
    rounds: int
    requests: int
    round_seconds: float


@dataclass
class Totals:
    """Since the start, over every connection, closed ones included (for /metrics counters)."""

    opened: int = 0
    rounds: int = 0
    requests: int = 0
    round_seconds: float = 0.0


class ConnectionPool:
    """Schedulers (and their clients) by connection; opened on first join, closed on last leave."""

    def __init__(
        self, clock: Clock, *, timeout: float, max_age: float, reader_factory: ReaderFactory = kafka_reader
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_age = max_age
        self._reader_factory = reader_factory
        self._schedulers: dict[KafkaConnection, RoundScheduler] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._closed = Totals()

    def join(self, connection: KafkaConnection, query: OffsetQuery) -> Member:
        """A member for `query` on the connection's scheduler (opening it when it is the first)."""
        with self._lock:
            scheduler = self._schedulers.get(connection)
            if scheduler is None:
                name = f"{connection.profile.bootstrap}#{next(self._numbers)}"
                reader = self._reader_factory(connection, self._timeout)
                scheduler = RoundScheduler(
                    reader,
                    self._clock,
                    name=name,
                    max_age=self._max_age,
                    wait_limit=self._timeout * _ROUND_STEPS + 5,
                )
                self._schedulers[connection] = scheduler
                self._closed.opened += 1
                log_event(logger, "connection_opened", connection=name, detail=connection.describe())
            return scheduler.join(query)

    def leave(self, member: Member) -> None:
        """The member is gone; its connection's client is closed when it was the last one."""
        scheduler = member.scheduler
        with self._lock:
            if scheduler.leave(member):
                return
            for connection, known in list(self._schedulers.items()):
                if known is scheduler:
                    del self._schedulers[connection]
            self._retire(scheduler)
        scheduler.reader.close()
        log_event(logger, "connection_closed", connection=scheduler.name, rounds=scheduler.rounds)

    def stats(self) -> list[ConnectionStats]:
        with self._lock:
            schedulers = list(self._schedulers.values())
        return [ConnectionStats(s.name, len(s), s.rounds, s.requests, s.round_seconds) for s in schedulers]

    def totals(self) -> Totals:
        """Since the start: connections opened, rounds, requests and round seconds."""
        with self._lock:
            totals = Totals(**vars(self._closed))
            for scheduler in self._schedulers.values():
                totals.rounds += scheduler.rounds
                totals.requests += scheduler.requests
                totals.round_seconds += scheduler.round_seconds
        return totals

    def _retire(self, scheduler: RoundScheduler) -> None:
        self._closed.rounds += scheduler.rounds
        self._closed.requests += scheduler.requests
        self._closed.round_seconds += scheduler.round_seconds

    def close(self) -> None:
        """Close every client (the server is stopping)."""
        with self._lock:
            schedulers = list(self._schedulers.values())
            self._schedulers.clear()
            for scheduler in schedulers:
                self._retire(scheduler)
        for scheduler in schedulers:
            scheduler.reader.close()
