"""Sending events with either client library behind one small Protocol.

Both implementations count deliveries the same way (DeliveryStats) and log each delivered event at
debug level, like the tutorial's `sent message ... to partition P offset O` line.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from kafkakit.clients import confluent_config, kafka_python_config
from kafkakit.logs import log_event
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

CLIENTS = ("confluent", "kafka-python")

logger = logging.getLogger("producer")

# How long a full confluent queue may block one send before we give up on the event.
_QUEUE_FULL_WAIT_SECONDS = 0.1


@dataclass
class DeliveryStats:
    """Counters shared with delivery callbacks (kafka-python calls them from its I/O thread)."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def record_delivered(self, value: bytes | None, partition: int | None, offset: int | None) -> None:
        with self._lock:
            self.delivered += 1
        if logger.isEnabledFor(logging.DEBUG):
            text = (value or b"").decode(errors="replace")
            log_event(logger, "sent", logging.DEBUG, message=text, partition=partition, offset=offset)

    def record_failed(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.failed += count
            self.last_error = redact(reason)
        log_event(logger, "delivery_failed", logging.WARNING, reason=self.last_error, events=count)

    @property
    def pending(self) -> int:
        with self._lock:
            return self.sent - self.delivered - self.failed


class Sender(Protocol):
    """What the produce loop needs from a client."""

    stats: DeliveryStats

    def send(self, key: bytes | None, value: bytes) -> None:
        """Hand one event to the client (asynchronous; the outcome lands in `stats`)."""

    def serve(self) -> None:
        """Give the client a chance to run delivery callbacks without blocking."""

    def flush(self, timeout: float) -> None:
        """Wait up to `timeout` for pending events; events still pending then count as failed."""

    def close(self) -> None:
        """Release connections."""


def _log_client_error(error: KafkaError) -> None:
    log_event(logger, "client_error", logging.WARNING, error=redact(error.str()))


class ConfluentSender:
    """librdkafka via confluent-kafka: batching and retries happen in C; delivery reports arrive
    through `poll`. (Reporting only failures saved just ~4% CPU per event, so every event reports.)"""

    def __init__(self, profile: ConnectionProfile, topic: str, extra: dict[str, Any] | None = None) -> None:
        config = confluent_config(profile, "producer")
        config["error_cb"] = _log_client_error
        config.update(extra or {})
        self._producer = Producer(config)
        self._topic = topic
        self.stats = DeliveryStats()

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.stats.record_failed(error.str())
        else:
            self.stats.record_delivered(message.value(), message.partition(), message.offset())

    def send(self, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: let deliveries drain it, then retry the same event.
                self._producer.poll(_QUEUE_FULL_WAIT_SECONDS)
        self.stats.record_sent()

    def serve(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout: float) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            self.stats.record_failed(f"not delivered within {timeout:g}s of flushing", remaining)

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

    def send(self, key: bytes | None, value: bytes) -> None:
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


def make_sender(client: str, profile: ConnectionProfile, topic: str) -> Sender:
    """The sender for `client` (one of CLIENTS)."""
    if client == "confluent":
        return ConfluentSender(profile, topic)
    if client == "kafka-python":
        return KafkaPythonSender(profile, topic)
    raise ValueError(f"unknown client {client!r}: choose one of {', '.join(CLIENTS)}")
