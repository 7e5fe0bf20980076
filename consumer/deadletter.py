"""Invalid events go to a dead-letter topic, so one bad message never stops the group.

The original bytes are kept untouched; headers say where the event came from and why it failed.
Logs show only a trimmed, redacted preview of the payload.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from kafkakit.clients import confluent_config
from kafkakit.logs import log_event
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

logger = logging.getLogger("consumer")

_PREVIEW_BYTES = 120


def preview(value: bytes | None, limit: int = _PREVIEW_BYTES) -> str:
    """A short, printable, secret-free view of a payload for log lines."""
    if value is None:
        return "<none>"
    text = value[:limit].decode("utf-8", errors="replace")
    suffix = f"...(+{len(value) - limit} bytes)" if len(value) > limit else ""
    return redact(text) + suffix


def default_dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class DeadLetterSink(Protocol):
    def send(self, message: Message, reason: str) -> bool:
        """Store `message` with `reason`; True once the broker has it."""

    def close(self) -> None:
        """Flush and release."""


class DiscardingDeadLetterSink:
    """Used when the dead-letter topic is unavailable: the `invalid_event` log line is all we keep."""

    def send(self, message: Message, reason: str) -> bool:
        log_event(
            logger,
            "dead_letter_skipped",
            logging.WARNING,
            partition=message.partition(),
            offset=message.offset(),
            reason="no dead-letter topic",
        )
        return False

    def close(self) -> None:
        """Nothing to release."""


class KafkaDeadLetterSink:
    """Produces to the dead-letter topic and waits for the delivery (invalid events are rare)."""

    def __init__(self, profile: ConnectionProfile, topic: str, timeout: float = 15.0) -> None:
        config: dict[str, Any] = confluent_config(profile, "producer")
        self._producer = Producer(config)
        self.topic = topic
        self._timeout = timeout

    def send(self, message: Message, reason: str) -> bool:
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        source = f"{message.topic()}/{message.partition()}/{message.offset()}"
        headers: list[tuple[str, str | bytes | None]] = [
            ("lagscale.error", reason),
            ("lagscale.source", source),
        ]
        self._producer.produce(
            self.topic, value=message.value(), key=message.key(), headers=headers, on_delivery=on_delivery
        )
        undelivered = self._producer.flush(self._timeout)
        if undelivered or errors:
            detail = redact(errors[0].str()) if errors else f"not delivered within {self._timeout:g}s"
            log_event(logger, "dead_letter_failed", logging.ERROR, topic=self.topic, reason=detail)
            return False
        return True

    def close(self) -> None:
        self._producer.flush(self._timeout)
        self._producer.close()
