"""The consumer-group poll loop, at-least-once.

Auto-commit and the automatic offset store are off: an offset becomes committable only after its
event was processed (or dead-lettered, or skipped for want of a dead-letter topic), and processed
offsets are committed in batches every `commit_interval`, when partitions are revoked, and on
shutdown. An invalid event whose dead letter fails holds its partition back (consumer.retry)
while the others go on. A stop request lets the event in progress finish (with no work per
event, the fetched batch in progress, validated in one pass), commits, then closes the consumer
(which leaves the group, so the remaining members rebalance at once instead of after the session
timeout; a static member keeps its partitions until then).
A revoke (all partitions with an eager protocol, only those that move with an incremental one)
commits what is done and forgets the revoked partitions (consumer.assignment).
"""

from __future__ import annotations

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
from kafkakit.events import EventFields, InvalidEventError, check_event, check_events
from kafkakit.logs import log_event
from kafkakit.secrets import redact

logger = logging.getLogger("consumer")

_MAX_BATCH = 500


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
        self._assignment = Assignment()
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
                self._resume_due_retries()
                self._handle_batch(self._assignment.owned_only(self._fetch()))
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

    def _fetch(self) -> list[Message]:
        """What the client has queued, up to a batch, without waiting for more; when it has
        nothing, wait up to the poll timeout for one message. (`consume(n, timeout)` waits until
        it has n messages or the timeout passed: at the end of a backlog, or when events trickle
        in, every event would wait up to a second.)"""
        messages = self._consumer.consume(self._batch_size, 0)
        if messages:
            return messages
        message = self._consumer.poll(self._settings.poll_timeout)
        return [message] if message is not None else []

    def _handle_batch(self, messages: list[Message]) -> None:
        """Handle messages in order. Metrics, clock reads, offsets to commit and the dead-letter
        retry bookkeeping are updated once per batch: per event they cost more than validating
        the event when work is free (--process-time 0)."""
        if not messages:
            return
        started = time.monotonic()
        self._first_event_at = self._first_event_at or started
        processed_before, handled_before = self._processed, self._handled
        # Last committable offset per partition. The worker subscribes to one topic, so the
        # partition number is the key (a tuple per event would cost more than the dict update).
        done: dict[int | None, int | None] = {}
        # Events this batch may still handle under --max-events (a batch never has more).
        room = self._settings.max_events - handled_before if self._settings.max_events else len(messages)
        debug = logger.isEnabledFor(logging.DEBUG)
        try:
            quick = not (self._settings.process_time or debug or self._stop.is_set())
            if not (quick and self._handle_at_once(messages[:room], done)):
                self._handle_one_by_one(messages, done, room, debug)
        finally:  # a fatal error still lets the shutdown commit cover what was handled
            self._processed_up_to(done)
        self._last_event_at = time.monotonic()
        processed = self._processed - processed_before
        if processed:
            self._metrics.processed.inc(processed)
            # Each event is observed with the batch's average: exact when a batch is one event
            # (the tutorial's 2 s of work), and no clock reads per event when work is free.
            per_event = (self._last_event_at - started) / (self._handled - handled_before)
            self._metrics.processing_seconds.observe_many(per_event, processed)

    def _handle_at_once(self, messages: list[Message], done: dict[int | None, int | None]) -> bool:
        """When no event takes time: validate the whole batch in one pass, without a Python call
        per event. Only when every message is a valid event; otherwise nothing is done (False)
        and the batch goes one by one. A stop request then lets the batch in progress finish
        (well under a millisecond)."""
        # The messages' own methods, mapped over the batch: half the cost of a methodcaller,
        # which looks each method up by name. Every message of a batch is of one class.
        kind = type(messages[0])
        if list(map(kind.error, messages)).count(None) != len(messages):
            return False
        try:
            check_events(map(kind.value, messages))
        except InvalidEventError:
            return False
        # The last message of each partition holds its highest offset.
        partitions = list(map(kind.partition, messages))
        last, backwards = len(messages) - 1, partitions[::-1]
        for partition in set(partitions):
            done[partition] = messages[last - backwards.index(partition)].offset()
        self._processed += len(messages)
        return True

    def _handle_one_by_one(
        self, messages: list[Message], done: dict[int | None, int | None], room: int, debug: bool
    ) -> None:
        """Each message in turn: the simulated work, per-event logs, client errors, invalid
        events and their dead letters. A stop request lets only the event in progress finish."""
        held_back: set[int | None] = set()  # the rest of these partitions comes again after the retry
        processed, check, stopping = 0, check_event, self._stop.is_set
        busy = bool(self._settings.process_time or debug)
        try:
            for message in messages:
                partition = message.partition()
                if held_back and partition in held_back:
                    continue
                error = message.error()
                if error is not None:
                    self._poll_error(error)  # not an event: nothing to commit
                else:
                    try:
                        event = check(message.value())
                    except InvalidEventError as invalid:
                        failed = self._failed
                        if self._reject(message, str(invalid)):
                            done[partition] = message.offset()
                        else:
                            held_back.add(partition)
                        room -= self._failed - failed  # a retried event was counted before
                    else:
                        if busy:
                            self._work(event, message, debug)
                        processed += 1
                        done[partition] = message.offset()
                if stopping() or processed >= room:
                    break
        finally:
            self._processed += processed

    def _processed_up_to(self, done: dict[int | None, int | None]) -> None:
        """Offsets up to these (per partition of the topic) are handled: committable, and no
        longer held back for a dead-letter retry."""
        for number, offset in done.items():
            partition, last = (self._settings.topic, int(number or 0)), int(offset or 0)
            self._commits.processed(*partition, last)
            if self._retries:
                self._retries.settled(partition, last)

    def _work(self, event: EventFields, message: Message, debug: bool) -> None:
        """The simulated work (--process-time), and the per-event log lines when verbose."""
        where = {"id": event.id, "partition": message.partition(), "offset": message.offset()}
        if self._settings.process_time:
            if debug:  # the work takes a while: say what is in progress
                log_event(logger, "processing", logging.DEBUG, **where)
            time.sleep(self._settings.process_time)  # the tutorial's "work"
        if debug:
            log_event(logger, "processed", logging.DEBUG, sequence=event.sequence, **where)

    def _poll_error(self, error: KafkaError) -> None:
        # A fatal consumer-group error (e.g. a broker without the KIP-848 protocol) arrives as
        # code _FATAL with fatal() False.
        if error.fatal() or error.code() == KafkaError._FATAL:
            raise KafkaException(error)
        log_event(logger, "poll_error", logging.WARNING, error=redact(error.str()))

    def _reject(self, message: Message, reason: str) -> bool:
        """Log the invalid event and park it in the dead-letter topic. True when the group may
        move past it; False when its dead letter failed and its partition is held back."""
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
            return False
        if result.outcome is DeadLetterOutcome.STORED:
            self._dead_lettered += 1
            self._metrics.dead_lettered.inc()
        return True

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
