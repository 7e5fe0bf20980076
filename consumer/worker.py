"""The consumer-group poll loop, at-least-once.

Auto-commit and the automatic offset store are off: an offset becomes committable only after its
event was processed (or dead-lettered), and processed offsets are committed in batches every
`commit_interval`, when partitions are revoked, and on shutdown. A stop request lets the event in
progress finish, commits, then closes the consumer (which leaves the group, so the remaining
members rebalance at once instead of after the session timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer.commits import CommitTracker
from consumer.deadletter import DeadLetterSink, preview
from consumer.health import ASSIGNED, STOPPING, WAITING, ConsumerMetrics, HealthState
from kafkakit.clients import confluent_config
from kafkakit.events import InvalidEventError, decode_event
from kafkakit.logs import log_event
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

logger = logging.getLogger("consumer")

_MAX_BATCH = 500
_PREFETCH_KBYTES = 8192
_PREFETCH_EVENTS = 10_000


@dataclass(frozen=True)
class ConsumeSettings:
    topic: str
    group: str
    process_time: float = 2.0  # simulated work per event, like the tutorial's sleep
    commit_interval: float = 1.0
    max_events: int = 0  # stop after this many events; 0 = until stopped
    poll_timeout: float = 1.0
    progress_interval: float = 5.0


@dataclass(frozen=True)
class ConsumeSummary:
    processed: int
    failed: int
    dead_lettered: int
    committed: dict[tuple[str, int], int]
    busy_seconds: float  # from the first to the last event handled

    @property
    def rate(self) -> float:
        handled = self.processed + self.failed
        return handled / self.busy_seconds if self.busy_seconds > 0 else 0.0


def consumer_config(profile: ConnectionProfile, group: str) -> dict[str, Any]:
    """librdkafka settings for an at-least-once group member."""
    config = confluent_config(profile, "consumer")
    config.update(
        {
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # librdkafka prefetches up to 100k events / 64 MB by default: a slow worker gains
            # nothing from that and a pod's memory limit pays for it. A short backoff keeps the
            # smaller queue topped up (measured: same throughput, ~40 MB less RSS).
            "queued.max.messages.kbytes": _PREFETCH_KBYTES,
            "queued.min.messages": _PREFETCH_EVENTS,
            "fetch.queue.backoff.ms": 10,
            # librdkafka waits half of this (default 100 ms) before connecting to the brokers
            # the bootstrap metadata named; 22 ms makes that its minimum of 11 ms (~50 ms
            # faster start-up measured). Backoff after real failures still grows up to 10 s.
            "reconnect.backoff.ms": 22,
            # librdkafka's own log lines go through our formatter (one line, secrets redacted).
            "logger": logging.getLogger("librdkafka"),
            "error_cb": _log_client_error,
        }
    )
    return config


def _log_client_error(error: KafkaError) -> None:
    log_event(logger, "client_error", logging.WARNING, error=redact(error.str()))


def _partitions(partitions: list[TopicPartition]) -> str:
    return ",".join(f"{tp.topic}/{tp.partition}" for tp in partitions) or "none"


class Worker:
    """One group member: poll, process, commit; owns the consumer until `run` returns."""

    def __init__(
        self,
        consumer: Consumer,
        settings: ConsumeSettings,
        *,
        dead_letters: DeadLetterSink,
        metrics: ConsumerMetrics,
        health: HealthState,
        stop: threading.Event,
    ) -> None:
        self._consumer = consumer
        self._settings = settings
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._health = health
        self._stop = stop
        self._commits = CommitTracker(settings.commit_interval)
        self._processed = self._failed = self._dead_lettered = 0
        self._first_event_at: float | None = None
        self._last_event_at = 0.0

    @property
    def _batch_size(self) -> int:
        """Events fetched per call: many when work is free (fewer calls into the client), else
        about one commit interval's worth, so commits and heartbeats of the loop stay regular."""
        work = self._settings.process_time
        if not work:
            return _MAX_BATCH
        return max(1, min(_MAX_BATCH, int(self._settings.commit_interval / work)))

    @property
    def _handled(self) -> int:
        return self._processed + self._failed

    def _done(self) -> bool:
        limit = self._settings.max_events
        return self._stop.is_set() or bool(limit and self._handled >= limit)

    def run(self) -> ConsumeSummary:
        self._consumer.subscribe(
            [self._settings.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        last_report, reported = time.monotonic(), 0
        try:
            while not self._done():
                self._health.beat()
                self._handle_batch(self._consumer.consume(self._batch_size, self._settings.poll_timeout))
                if self._commits.due():
                    self._commit("interval")
                if time.monotonic() - last_report >= self._settings.progress_interval:
                    self._log_progress(self._handled - reported, time.monotonic() - last_report)
                    last_report, reported = time.monotonic(), self._handled
        finally:
            self._health.phase = STOPPING
            self._commit("shutdown")
            self._consumer.close()
        busy = self._last_event_at - self._first_event_at if self._first_event_at else 0.0
        return ConsumeSummary(
            self._processed, self._failed, self._dead_lettered, dict(self._commits.committed), busy
        )

    # -- fetched messages ----------------------------------------------------------------------

    def _handle_batch(self, messages: list[Message]) -> None:
        """Handle messages in order; a stop request lets only the event in progress finish.

        Metrics, clock reads and commit bookkeeping happen once per batch: per event they cost
        more than decoding it when there is no simulated work (--process-time 0)."""
        if not messages:
            return
        started = time.monotonic()
        self._first_event_at = self._first_event_at or started
        processed_before, handled_before = self._processed, self._handled
        done: dict[tuple[str | None, int | None], int | None] = {}  # last offset per partition
        try:
            for message in messages:
                if self._handle(message):
                    done[message.topic(), message.partition()] = message.offset()
                if self._done():
                    break
        finally:  # a fatal error still lets the shutdown commit cover what was handled
            for (topic, partition), offset in done.items():
                self._commits.processed(str(topic), int(partition or 0), int(offset or 0))
        self._last_event_at = time.monotonic()
        processed = self._processed - processed_before
        if processed:
            self._metrics.processed.inc(processed)
            # Each event is observed with the batch's average: exact when a batch is one event
            # (the tutorial's 2 s of work), and no clock reads per event when work is free.
            per_event = (self._last_event_at - started) / (self._handled - handled_before)
            for _ in range(processed):
                self._metrics.processing_seconds.observe(per_event)

    def _handle(self, message: Message) -> bool:
        """Process or dead-letter one message; False for a poll error (nothing to commit)."""
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            log_event(logger, "poll_error", logging.WARNING, error=redact(error.str()))
            return False
        try:
            event = decode_event(message.value())
        except InvalidEventError as invalid:
            self._reject(message, str(invalid))
            return True
        if self._settings.process_time:
            time.sleep(self._settings.process_time)  # the tutorial's "work"
        self._processed += 1
        if logger.isEnabledFor(logging.DEBUG):
            log_event(
                logger,
                "processed",
                logging.DEBUG,
                id=event.id,
                sequence=event.sequence,
                partition=message.partition(),
                offset=message.offset(),
            )
        return True

    def _reject(self, message: Message, reason: str) -> None:
        """Log the invalid event, park it in the dead-letter topic, and move past it."""
        self._failed += 1
        self._metrics.failed.inc()
        log_event(
            logger,
            "invalid_event",
            logging.WARNING,
            reason=reason,
            partition=message.partition(),
            offset=message.offset(),
            payload=preview(message.value()),
        )
        if self._dead_letters.send(message, reason):
            self._dead_lettered += 1
            self._metrics.dead_lettered.inc()

    # -- commits and rebalances ----------------------------------------------------------------

    def _commit(self, reason: str) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._commits.pending().items()]
        if not offsets:
            return
        self._commits.attempted()
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # Kept pending: retried at the next interval (or lost to a rebalance, then reprocessed).
            log_event(logger, "commit_failed", logging.WARNING, reason=reason, error=redact(str(error)))
            return
        accepted = [(str(tp.topic), tp.partition, tp.offset) for tp in result if tp.error is None]
        self._commits.accepted(accepted)
        for topic, partition, offset in accepted:
            self._metrics.committed_offset.labels(topic, str(partition)).set(offset)
        log_event(
            logger,
            "committed",
            logging.DEBUG,
            reason=reason,
            offsets=",".join(f"{p}:{o}" for _, p, o in accepted),
        )

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._health.phase = ASSIGNED
        log_event(logger, "assigned", partitions=_partitions(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit("revoke")
        self._commits.forget((tp.topic, tp.partition) for tp in partitions)
        if self._health.phase != STOPPING:
            self._health.phase = WAITING
        log_event(logger, "revoked", partitions=_partitions(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member owns them now: committing would overwrite its progress.
        self._commits.forget((tp.topic, tp.partition) for tp in partitions)
        if self._health.phase != STOPPING:
            self._health.phase = WAITING
        log_event(logger, "lost", logging.WARNING, partitions=_partitions(partitions))

    def _log_progress(self, handled: int, seconds: float) -> None:
        log_event(
            logger,
            "progress",
            rate=f"{handled / seconds:.1f}/s",
            processed=self._processed,
            failed=self._failed,
            dead_lettered=self._dead_lettered,
            committed=self._commits.total_committed,
        )
