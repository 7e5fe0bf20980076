"""Invalid events go to a dead-letter topic, so one bad message never stops the group.

The original bytes are kept untouched; headers say where the event came from and why it failed.
Logs show only a trimmed, redacted, escaped preview of the payload. A send has three outcomes:
stored, skipped (no dead-letter topic by configuration) or failed (the worker retries it later
and does not commit the event meanwhile).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkakit.broker import create_client
from kafkakit.clients import confluent_config
from kafkakit.logs import log_event, printable
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

logger = logging.getLogger("consumer")

_PREVIEW_BYTES = 120
# flush() waits this much longer than message.timeout.ms, so the delivery report of a timed-out
# dead letter arrives within it.
_FLUSH_MARGIN_SECONDS = 1.0


def preview(value: bytes | None, limit: int = _PREVIEW_BYTES) -> str:
    """A short, printable (control characters escaped), secret-free view of a payload for log lines."""
    if value is None:
        return "<none>"
    text = value[:limit].decode("utf-8", errors="replace")
    suffix = f"...(+{len(value) - limit} bytes)" if len(value) > limit else ""
    return printable(redact(text)) + suffix


def default_dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class DeadLetterOutcome(enum.Enum):
    STORED = "stored"  # in the dead-letter topic: the group may move past the event
    SKIPPED = "skipped"  # no dead-letter topic, by configuration: logged only, move past it
    FAILED = "failed"  # not stored: keep the event uncommitted and retry later


@dataclass(frozen=True)
class DeadLetterResult:
    outcome: DeadLetterOutcome
    error: str = ""  # why it failed


_STORED = DeadLetterResult(DeadLetterOutcome.STORED)
_SKIPPED = DeadLetterResult(DeadLetterOutcome.SKIPPED)


class DeadLetterSink(Protocol):
    def send(self, message: Message, reason: str) -> DeadLetterResult:
        """Store `message` with `reason`; never raises for a client or broker failure."""

    def close(self) -> None:
        """Flush and release."""


class DiscardingDeadLetterSink:
    """Used when the dead-letter topic is unavailable: the `invalid_event` log line is all we keep."""

    def send(self, message: Message, reason: str) -> DeadLetterResult:
        log_event(
            logger,
            "dead_letter_skipped",
            logging.WARNING,
            partition=message.partition(),
            offset=message.offset(),
            reason="no dead-letter topic",
        )
        return _SKIPPED

    def close(self) -> None:
        """Nothing to release."""


class KafkaDeadLetterSink:
    """Produces to the dead-letter topic and waits for the delivery (invalid events are rare)."""

    def __init__(self, profile: ConnectionProfile, topic: str, timeout: float = 15.0) -> None:
        config = confluent_config(profile, "producer")
        # librdkafka gives up on a dead letter by itself within `timeout`, so a failed one is not
        # still queued when the worker retries it (one stuck in flight may still arrive late: the
        # dead-letter topic is at-least-once, like the group).
        config["message.timeout.ms"] = int(timeout * 1000)
        config["acks"] = "all"
        self._producer = create_client(Producer, config)
        self.topic = topic
        self._timeout = timeout

    def send(self, message: Message, reason: str) -> DeadLetterResult:
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        source = f"{message.topic()}/{message.partition()}/{message.offset()}"
        headers: list[tuple[str, str | bytes | None]] = [
            ("lagscale.error", reason),
            ("lagscale.source", source),
        ]
        try:
            self._producer.produce(
                self.topic, value=message.value(), key=message.key(), headers=headers, on_delivery=on_delivery
            )
        except (KafkaException, BufferError) as error:  # e.g. larger than message.max.bytes, queue full
            return DeadLetterResult(DeadLetterOutcome.FAILED, redact(str(error)))
        undelivered = self._producer.flush(self._timeout + _FLUSH_MARGIN_SECONDS)
        if errors:
            return DeadLetterResult(DeadLetterOutcome.FAILED, redact(errors[0].str()))
        if undelivered:
            return DeadLetterResult(DeadLetterOutcome.FAILED, f"not delivered within {self._timeout:g}s")
        return _STORED

    def close(self) -> None:
        self._producer.flush(self._timeout)
        self._producer.close()
