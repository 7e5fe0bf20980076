"""Sending events with either client library behind one small Protocol.

Both implementations count deliveries the same way (DeliveryStats) and log each delivered event at
debug level, like the tutorial's `sent message ... to partition P offset O` line. Failures are
counted, and logged by the produce loop once per progress interval (a dead broker fails every
queued event: a line each would flood the log).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from kafkakit.broker import create_client
from kafkakit.clients import confluent_config, kafka_python_config
from kafkakit.logs import log_event
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

CLIENTS = ("confluent", "kafka-python")

logger = logging.getLogger("producer")

# How long to let deliveries drain a full confluent queue before checking for a stop request and
# trying the event again (poll() returns sooner, ~1.5 ms measured, once a delivery frees space).
_QUEUE_FULL_WAIT_SECONDS = 0.05

_CONFLUENT_PRODUCER: dict[str, Any] = {
    # Stated rather than left to the library default: an event counts as delivered once all
    # in-sync replicas have it. A retry may duplicate an event (the consumer is at-least-once
    # anyway): librdkafka's idempotent mode, which prevents that, made unpaced runs of 100k
    # events up to 4x slower locally, so it stays at the library default (off).
    "acks": "all",
    # The local queue fills as fast as Python produces: 8 MB of queued events keeps the
    # throughput and bounds memory (default: 100k events; RSS reached ~70 MB with 200 bytes each).
    "queue.buffering.max.kbytes": 8_192,
}

# Delivery errors of events that flush() gave up on and purged.
_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


@dataclass
class DeliveryStats:
    """Counters shared with delivery callbacks (kafka-python calls them from its I/O thread)."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    _unreported_failures: int = 0
    _first_unreported_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_sent(self, count: int = 1) -> None:
        with self._lock:
            self.sent += count

    def record_delivered(self, value: bytes | None, partition: int | None, offset: int | None) -> None:
        with self._lock:
            self.delivered += 1
        if logger.isEnabledFor(logging.DEBUG):
            text = (value or b"").decode(errors="replace")
            log_event(logger, "sent", logging.DEBUG, message=text, partition=partition, offset=offset)

    def record_failed(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.failed += count
            self._unreported_failures += count
            self._first_unreported_error = self._first_unreported_error or redact(reason)

    def take_failures(self) -> tuple[int, str]:
        """Failures recorded since the last call, and the reason of the first of them."""
        with self._lock:
            taken = (self._unreported_failures, self._first_unreported_error)
            self._unreported_failures, self._first_unreported_error = 0, ""
        return taken

    def record_settled(self, in_flight: int) -> None:
        """For a client that reports failures only: what was sent and neither failed nor is still
        in flight was delivered. (librdkafka's queue length also counts unserved client events,
        which could make the count dip for a moment: it never goes down.)"""
        with self._lock:
            self.delivered = max(self.delivered, self.sent - self.failed - in_flight)

    @property
    def pending(self) -> int:
        with self._lock:
            return self.sent - self.delivered - self.failed


class Sender(Protocol):
    """What the produce loop needs from a client."""

    stats: DeliveryStats

    def send(self, keys: Sequence[bytes | None], values: Sequence[bytes]) -> None:
        """Hand events (keys[i], values[i]) to the client in order (asynchronous; the outcomes
        land in `stats`)."""

    def serve(self) -> None:
        """Give the client a chance to run delivery callbacks without blocking."""

    def flush(self, timeout: float) -> None:
        """Wait up to `timeout` for pending events; events still pending then count as failed."""

    def close(self) -> None:
        """Release connections."""


class ConfluentSender:
    """librdkafka via confluent-kafka: batching and retries happen in C; delivery reports arrive
    through `poll`. Unless every delivery is logged (debug), librdkafka reports failures only and
    deliveries are counted from its queue length: a Python callback per event cost ~0.4 µs, as
    much as building the event."""

    def __init__(
        self,
        profile: ConnectionProfile,
        topic: str,
        stop: threading.Event,
        extra: dict[str, Any] | None = None,
    ) -> None:
        config = confluent_config(profile, "producer")
        # Set once here rather than per produce() call: keyword arguments cost ~0.2 µs an event.
        config["on_delivery"] = self._on_delivery
        self._failures_only = not logger.isEnabledFor(logging.DEBUG)
        config["delivery.report.only.error"] = self._failures_only
        config.update(_CONFLUENT_PRODUCER)
        config.update(extra or {})
        self._producer = create_client(Producer, config)
        self._topic = topic
        self._stop = stop
        self.stats = DeliveryStats()

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            if error.code() not in _PURGED:  # purged ones were counted by flush()
                self.stats.record_failed(error.str())
        else:
            self.stats.record_delivered(message.value(), message.partition(), message.offset())

    def send(self, keys: Sequence[bytes | None], values: Sequence[bytes]) -> None:
        """One produce() call per event: produce_batch() measured no faster (it needs a dict per
        event) and reports failures per dict, so the simple loop stays."""
        self.stats.record_sent(len(values))
        produce, topic = self._producer.produce, self._topic  # bound once: this loop is the hot path
        remaining = zip(values, keys, strict=True)
        for value, key in remaining:
            try:
                produce(topic, value, key)
            except BufferError:
                if not self._produce_when_queued(key, value):
                    # Stopped with the queue still full: this event and the rest are lost.
                    unqueued = 1 + sum(1 for _ in remaining)
                    self.stats.record_failed("stopped while the local queue was full", unqueued)
                    return

    def _produce_when_queued(self, key: bytes | None, value: bytes) -> bool:
        """The local queue is full: let deliveries drain it until the event fits (True), or until a
        stop request (False). With the broker down that wait would last until message.timeout.ms."""
        while not self._stop.is_set():
            self._producer.poll(_QUEUE_FULL_WAIT_SECONDS)
            try:
                self._producer.produce(self._topic, value, key)
                return True
            except BufferError:
                continue
        return False

    def serve(self) -> None:
        self._producer.poll(0)
        if self._failures_only:
            self.stats.record_settled(in_flight=len(self._producer))

    def flush(self, timeout: float) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            self.stats.record_failed(f"not delivered within {timeout:g}s of flushing", remaining)
            # Drop them now: close() would otherwise wait for them (until message.timeout.ms).
            self._producer.purge()
            self._producer.poll(0)
        if self._failures_only:
            self.stats.record_settled(in_flight=0)  # what is left over counts as failed now

    def close(self) -> None:
        self._producer.close()


class KafkaPythonSender:
    """kafka-python: pure Python, delivery futures resolved on its I/O thread."""

    def __init__(self, profile: ConnectionProfile, topic: str, extra: dict[str, Any] | None = None) -> None:
        # Lazy: kafka-python costs ~0.3 s and ~10 MB to import, and only this client needs it.
        from kafka import KafkaProducer  # noqa: PLC0415

        config = kafka_python_config(profile, "producer")
        config.update(extra or {})
        self._producer = KafkaProducer(**config)
        self._topic = topic
        self.stats = DeliveryStats()

    def send(self, keys: Sequence[bytes | None], values: Sequence[bytes]) -> None:
        for key, value in zip(keys, values, strict=True):
            self._send_one(key, value)

    def _send_one(self, key: bytes | None, value: bytes) -> None:
        try:
            future = self._producer.send(self._topic, value=value, key=key)
        except Exception as error:  # any client error loses this event: count it
            self.stats.record_sent()
            self.stats.record_failed(str(error))
            return
        self.stats.record_sent()
        future.add_callback(self._on_success, value)
        future.add_errback(self._on_failure)

    def _on_success(self, value: bytes, metadata: Any) -> None:
        self.stats.record_delivered(value, metadata.partition, metadata.offset)

    def _on_failure(self, error: BaseException) -> None:
        self.stats.record_failed(str(error))

    def serve(self) -> None:
        """kafka-python's I/O thread delivers on its own."""

    def flush(self, timeout: float) -> None:
        from kafka.errors import KafkaTimeoutError  # noqa: PLC0415 - see __init__

        try:
            self._producer.flush(timeout)
        except KafkaTimeoutError:
            pending = self.stats.pending
            if pending:
                self.stats.record_failed(f"not delivered within {timeout:g}s of flushing", pending)

    def close(self) -> None:
        self._producer.close(timeout=5)


def make_sender(client: str, profile: ConnectionProfile, topic: str, stop: threading.Event) -> Sender:
    """The sender for `client` (one of CLIENTS); a stop request ends the confluent sender's wait
    for queue space (kafka-python's send() gives up by itself after max_block_ms)."""
    if client == "confluent":
        return ConfluentSender(profile, topic, stop)
    if client == "kafka-python":
        return KafkaPythonSender(profile, topic)
    raise ValueError(f"unknown client {client!r}: choose one of {', '.join(CLIENTS)}")
