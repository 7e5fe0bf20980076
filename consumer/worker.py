"""The consumer-group poll loop, at-least-once.

Auto-commit and the automatic offset store are off: an offset becomes committable only after its
event was processed (or dead-lettered, or skipped for want of a dead-letter topic), and processed
offsets are committed in batches every `commit_interval`, when partitions are revoked, and on
shutdown. An invalid event whose dead letter fails holds its partition back (consumer.retry)
while the others go on. A stop request lets the event in progress finish, commits, then closes
the consumer (which leaves the group, so the remaining members rebalance at once instead of after
the session timeout; a static member keeps its partitions until then).
A revoke (all partitions with an eager protocol, only those that move with an incremental one)
commits what is done and forgets the revoked partitions (consumer.assignment).
"""

from __future__ import annotations

import enum
import logging
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumer.assignment import Assignment, partition_keys
from consumer.commits import CommitTracker, Partition
from consumer.deadletter import DeadLetterOutcome, DeadLetterSink, preview
from consumer.health import ASSIGNED, STOPPING, WAITING, ConsumerMetrics, HealthState
from consumer.retry import DeadLetterRetries
from consumer.settings import ConsumeSettings, ConsumeSummary
from kafkakit.events import InvalidEventError, decode_event
from kafkakit.logs import log_event
from kafkakit.secrets import redact

logger = logging.getLogger("consumer")

_MAX_BATCH = 500


class _Handled(enum.Enum):
    DONE = "done"  # processed, dead-lettered or skipped: committable
    POLL_ERROR = "poll_error"  # not an event: nothing to commit
    HELD_BACK = "held_back"  # dead letter failed: skip the rest of its partition in this batch


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
        retries: DeadLetterRetries | None = None,
    ) -> None:
        self._consumer = consumer
        self._settings = settings
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._health = health
        self._stop = stop
        self._commits = CommitTracker(settings.commit_interval)
        self._retries = retries if retries is not None else DeadLetterRetries()
        self._processed = self._failed = self._dead_lettered = 0
        self._first_event_at: float | None = None
        self._last_event_at = 0.0
        self._assignment = Assignment()

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
                self._resume_due_retries()
                messages = self._consumer.consume(self._batch_size, self._settings.poll_timeout)
                self._handle_batch(self._assignment.owned_only(messages))
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
        # Keyed by the client's (topic, partition) as is: converting them costs per event.
        done: dict[tuple[str | None, int | None], int | None] = {}  # last committable offset
        held_back: set[tuple[str | None, int | None]] = set()  # the rest comes again after the retry
        # Looked up once per batch: per event they cost a tenth of decoding it.
        stopping, limit = self._stop.is_set, self._settings.max_events
        debug = logger.isEnabledFor(logging.DEBUG)
        try:
            for message in messages:
                key = (message.topic(), message.partition())
                if held_back and key in held_back:
                    continue
                handled = self._handle(message, debug)
                if handled is _Handled.DONE:
                    done[key] = message.offset()
                elif handled is _Handled.HELD_BACK:
                    held_back.add(key)
                if stopping() or (limit and self._processed + self._failed >= limit):
                    break
        finally:  # a fatal error still lets the shutdown commit cover what was handled
            for (topic, number), offset in done.items():
                partition, last = (str(topic), int(number or 0)), int(offset or 0)
                self._commits.processed(*partition, last)
                if self._retries:
                    self._retries.settled(partition, last)
        self._last_event_at = time.monotonic()
        processed = self._processed - processed_before
        if processed:
            self._metrics.processed.inc(processed)
            # Each event is observed with the batch's average: exact when a batch is one event
            # (the tutorial's 2 s of work), and no clock reads per event when work is free.
            per_event = (self._last_event_at - started) / (self._handled - handled_before)
            self._metrics.processing_seconds.observe_many(per_event, processed)

    def _handle(self, message: Message, debug: bool = False) -> _Handled:
        """Process or dead-letter one message; `debug` logs each processed event."""
        error = message.error()
        if error is not None:
            # A fatal consumer-group error (e.g. a broker without the KIP-848 protocol) arrives as
            # code _FATAL with fatal() False.
            if error.fatal() or error.code() == KafkaError._FATAL:
                raise KafkaException(error)
            log_event(logger, "poll_error", logging.WARNING, error=redact(error.str()))
            return _Handled.POLL_ERROR
        try:
            event = decode_event(message.value())
        except InvalidEventError as invalid:
            return self._reject(message, str(invalid))
        where = {"id": event.id, "partition": message.partition(), "offset": message.offset()}
        if self._settings.process_time:
            if debug:  # the work takes a while: say what is in progress
                log_event(logger, "processing", logging.DEBUG, **where)
            time.sleep(self._settings.process_time)  # the tutorial's "work"
        self._processed += 1
        if debug:
            log_event(logger, "processed", logging.DEBUG, sequence=event.sequence, **where)
        return _Handled.DONE

    def _reject(self, message: Message, reason: str) -> _Handled:
        """Log the invalid event and park it in the dead-letter topic; DONE moves past it."""
        partition, offset = (str(message.topic()), int(message.partition() or 0)), int(message.offset() or 0)
        if not self._retries.is_retry(partition, offset):  # a retried event is counted once
            self._failed += 1
            self._metrics.failed.inc()
            log_event(
                logger,
                "invalid_event",
                logging.WARNING,
                reason=reason,
                partition=partition[1],
                offset=offset,
                payload=preview(message.value()),
            )
        result = self._dead_letters.send(message, reason)
        if result.outcome is DeadLetterOutcome.FAILED:
            self._hold_back(partition, offset, result.error)
            return _Handled.HELD_BACK
        if result.outcome is DeadLetterOutcome.STORED:
            self._dead_lettered += 1
            self._metrics.dead_lettered.inc()
        return _Handled.DONE

    def _hold_back(self, partition: Partition, offset: int, error: str) -> None:
        """Pause the partition and rewind it to the event, so that it comes again after the backoff
        (the fetch position has moved past it and the messages prefetched after it)."""
        delay, failures = self._retries.failed(partition, offset)
        self._metrics.dead_letter_failures.inc()
        position = TopicPartition(*partition, offset)
        self._consumer.pause([position])
        # Should the seek fail, the run ends (exit 1) rather than skip the event: it is not committed.
        self._consumer.seek(position)
        log_event(
            logger,
            "dead_letter_failed",
            logging.ERROR,
            partition=partition[1],
            offset=offset,
            error=error,
            failures=failures,
            retry_in=f"{delay:g}s",
        )

    def _resume_due_retries(self) -> None:
        if self._retries:
            due = self._retries.take_due()
            if due:
                self._consumer.resume([TopicPartition(topic, number) for topic, number in due])

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

    # The client calls these from inside consume() or close(). Without an assign/unassign call of
    # ours, confluent-kafka then applies the change itself: assign() for an eager protocol,
    # incremental_assign()/incremental_unassign() for an incremental one.

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assignment.assigned(partition_keys(partitions))
        self._set_phase()
        log_event(logger, "assigned", partitions=_partitions(partitions), owned=len(self._assignment))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit("revoke")  # everything done so far, kept partitions included
        self._release(partitions)
        log_event(logger, "revoked", partitions=_partitions(partitions), owned=len(self._assignment))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member owns them now: committing would overwrite its progress.
        self._release(partitions)
        log_event(
            logger, "lost", logging.WARNING, partitions=_partitions(partitions), owned=len(self._assignment)
        )

    def _release(self, partitions: list[TopicPartition]) -> None:
        """Forget what belongs to partitions this member no longer owns, including their
        committed-offset series: the new owner exports those."""
        released = partition_keys(partitions)
        self._assignment.revoked(released)
        self._commits.forget(released)
        held = self._retries.forget(released)
        if held:  # an application pause may outlive the assignment: a later owner must fetch
            self._consumer.resume([TopicPartition(topic, number) for topic, number in held])
        for topic, partition in released:
            self._metrics.committed_offset.remove(topic, str(partition))
        self._set_phase()

    def _set_phase(self) -> None:
        if self._health.phase != STOPPING:
            self._health.phase = ASSIGNED if len(self._assignment) else WAITING

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
