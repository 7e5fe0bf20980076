"""Pure pieces of the consumer: commit bookkeeping, health decisions, payload previews, metrics,
dead-letter retries; and the worker's rebalance and dead-letter handling with an in-memory client."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consumer.commits import CommitTracker
from consumer.deadletter import DeadLetterOutcome, DeadLetterResult, default_dlq_topic, preview
from consumer.event_histogram import EventHistogram
from consumer.health import ASSIGNED, STOPPING, WAITING, ConsumerMetrics, HealthState
from consumer.retry import DeadLetterRetries
from consumer.settings import ConsumeSettings
from consumer.worker import Worker
from kafkakit.events import Event, encode_event
from kafkakit.secrets import register_secret


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_commit_is_due_only_with_pending_offsets_after_the_interval() -> None:
    clock = FakeClock()
    tracker = CommitTracker(interval=1.0, clock=clock)
    clock.now += 5
    assert not tracker.due()  # nothing processed yet
    tracker.processed("t", 0, 41)
    assert tracker.due()
    tracker.attempted()
    assert not tracker.due()
    clock.now += 0.99
    assert not tracker.due()
    clock.now += 0.02
    assert tracker.due()


def test_commit_targets_the_offset_after_the_last_processed_event() -> None:
    tracker = CommitTracker(interval=1.0)
    tracker.processed("t", 0, 4)
    tracker.processed("t", 0, 5)
    tracker.processed("t", 1, 0)
    assert tracker.pending() == {("t", 0): 6, ("t", 1): 1}


def test_accepted_offsets_clear_pending_and_ignore_partitions_without_offsets() -> None:
    tracker = CommitTracker(interval=1.0)
    tracker.processed("t", 0, 5)
    tracker.processed("t", 1, 2)
    tracker.accepted([("t", 0, 6), ("t", 1, -1001)])
    assert tracker.pending() == {("t", 1): 3}
    assert tracker.committed == {("t", 0): 6}
    assert tracker.total_committed == 6


def test_an_offset_processed_during_the_commit_stays_pending() -> None:
    tracker = CommitTracker(interval=1.0)
    tracker.processed("t", 0, 5)
    tracker.processed("t", 0, 6)  # arrives before the broker confirms offset 6
    tracker.accepted([("t", 0, 6)])
    assert tracker.pending() == {("t", 0): 7}


def test_forget_drops_pending_offsets_of_revoked_partitions() -> None:
    tracker = CommitTracker(interval=1.0)
    tracker.processed("t", 0, 5)
    tracker.processed("t", 1, 5)
    tracker.forget([("t", 1)])
    assert tracker.pending() == {("t", 0): 6}


def test_health_is_ok_while_waiting_or_assigned_and_the_loop_turns() -> None:
    clock = FakeClock()
    health = HealthState(stale_after=30, clock=clock)
    assert health.check() == (True, WAITING)
    health.phase = ASSIGNED
    clock.now += 29
    assert health.check() == (True, ASSIGNED)


def test_health_fails_when_the_loop_is_silent_or_stopping() -> None:
    clock = FakeClock()
    health = HealthState(stale_after=30, clock=clock)
    clock.now += 31
    healthy, reason = health.check()
    assert not healthy
    assert "silent for 31s" in reason
    health.beat()
    health.phase = STOPPING
    assert health.check() == (False, STOPPING)


def test_preview_trims_and_redacts_payloads() -> None:
    register_secret("topsecret-password-1")
    assert preview(b"x" * 130, limit=100) == "x" * 100 + "...(+30 bytes)"
    assert preview(b"pw=topsecret-password-1") == "pw=***"
    assert preview(b"\xff\xfeok") == "\ufffd\ufffdok"
    assert preview(None) == "<none>"


def test_preview_escapes_control_characters_so_payloads_cannot_forge_log_lines() -> None:
    assert preview(b"a\r\nts=x level=error\x1b[2J") == "a\\r\\nts=x level=error\\x1b[2J"


def test_default_dead_letter_topic_name() -> None:
    assert default_dlq_topic("orders") == "orders.dlq"


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = ConsumerMetrics(), ConsumerMetrics()
    first.processed.inc(3)
    first.committed_offset.labels("t", "0").set(42)
    text = generate_latest(first.registry).decode()
    assert "lagscale_consumer_events_processed_total 3.0" in text
    assert 'lagscale_consumer_committed_offset{partition="0",topic="t"} 42.0' in text
    assert "lagscale_consumer_events_processed_total 0.0" in generate_latest(second.registry).decode()


def test_dead_letter_retries_back_off_from_1_s_doubling_to_30_s() -> None:
    clock = FakeClock()
    retries = DeadLetterRetries(clock)
    delays = [retries.failed(("t", 0), 7)[0] for _ in range(7)]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert retries.failed(("t", 0), 9) == (1, 1)  # another event starts over


def test_a_held_partition_is_due_once_after_its_delay() -> None:
    clock = FakeClock()
    retries = DeadLetterRetries(clock)
    retries.failed(("t", 0), 7)
    retries.failed(("t", 1), 3)
    retries.failed(("t", 1), 3)  # 2 s now
    clock.now += 1
    assert retries.take_due() == [("t", 0)]
    assert retries.take_due() == []  # resumed already: not again until the next failure
    clock.now += 1
    assert retries.take_due() == [("t", 1)]
    assert retries.is_retry(("t", 0), 7)
    assert not retries.is_retry(("t", 0), 8)


def test_held_partitions_are_released_by_a_later_event_or_a_rebalance() -> None:
    retries = DeadLetterRetries(FakeClock())
    retries.failed(("t", 0), 7)
    retries.failed(("t", 1), 3)
    retries.settled(("t", 0), 6)  # an earlier event of the same batch: still held
    assert retries.is_retry(("t", 0), 7)
    retries.settled(("t", 0), 7)
    assert retries.forget([("t", 0), ("t", 1)]) == [("t", 1)]
    assert not retries


class FakeMessage:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> None:
        return None


class FakeConsumer:
    """Records what the worker asks of the client; commits succeed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[int, int]]]] = []

    def _record(self, name: str, partitions: list[TopicPartition]) -> None:
        self.calls.append((name, [(tp.partition, tp.offset) for tp in partitions]))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self._record("commit", offsets)
        return offsets

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._record("pause", partitions)

    def seek(self, partition: TopicPartition) -> None:
        self._record("seek", [partition])

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._record("resume", partitions)


class FailingSink:
    def __init__(self) -> None:
        self.outcome = DeadLetterOutcome.FAILED

    def send(self, message: object, reason: str) -> DeadLetterResult:
        return DeadLetterResult(self.outcome, "Broker: Message size too large")

    def close(self) -> None:
        pass


def make_worker(
    sink: FailingSink | None = None, clock: FakeClock | None = None
) -> tuple[Worker, FakeConsumer]:
    consumer = FakeConsumer()
    worker = Worker(
        consumer,  # type: ignore[arg-type]
        ConsumeSettings(topic="t", group="g", process_time=0),
        dead_letters=sink or FailingSink(),
        metrics=ConsumerMetrics(),
        health=HealthState(stale_after=30),
        stop=threading.Event(),
        retries=DeadLetterRetries(clock or FakeClock()),
    )
    return worker, consumer


def valid(sequence: int) -> bytes:
    return encode_event(Event.new(sequence, "test"))


def test_a_failed_dead_letter_rewinds_and_holds_only_its_partition() -> None:
    clock = FakeClock()
    sink = FailingSink()
    worker, consumer = make_worker(sink, clock)
    batch = [FakeMessage(0, 0, valid(0)), FakeMessage(0, 1, b"poison"), FakeMessage(1, 0, valid(1))]
    batch += [FakeMessage(0, 2, valid(2)), FakeMessage(1, 1, valid(3))]

    worker._handle_batch(batch)  # type: ignore[arg-type]
    worker._commit("test")

    assert consumer.calls == [("pause", [(0, 1)]), ("seek", [(0, 1)]), ("commit", [(0, 1), (1, 2)])]
    metrics = generate_latest(worker._metrics.registry).decode()
    assert "lagscale_consumer_dead_letter_failures_total 1.0" in metrics
    assert "lagscale_consumer_events_failed_total 1.0" in metrics
    assert "lagscale_consumer_events_processed_total 3.0" in metrics  # offset 0:2 comes again later

    consumer.calls.clear()
    clock.now += 1
    worker._resume_due_retries()
    sink.outcome = DeadLetterOutcome.STORED
    worker._handle_batch([FakeMessage(0, 1, b"poison"), FakeMessage(0, 2, valid(2))])  # type: ignore[list-item]
    worker._commit("test")

    assert consumer.calls == [("resume", [(0, -1001)]), ("commit", [(0, 3)])]
    metrics = generate_latest(worker._metrics.registry).decode()
    assert "lagscale_consumer_events_failed_total 1.0" in metrics  # the retried event counts once
    assert "lagscale_consumer_events_dead_lettered_total 1.0" in metrics


def test_revoked_and_lost_partitions_drop_their_gauges_and_retries() -> None:
    worker, consumer = make_worker()
    worker._handle_batch([FakeMessage(p, 0, valid(p)) for p in range(3)])  # type: ignore[misc]
    worker._commit("test")
    worker._handle_batch([FakeMessage(2, 1, b"poison")])  # type: ignore[list-item]

    worker._on_revoke(None, [TopicPartition("t", 0)])  # type: ignore[arg-type]
    worker._on_lost(None, [TopicPartition("t", 2)])  # type: ignore[arg-type]

    assert consumer.calls[-1] == ("resume", [(2, -1001)])  # not left paused for a later owner
    metrics = generate_latest(worker._metrics.registry).decode()
    assert 'committed_offset{partition="1",topic="t"} 1.0' in metrics
    assert 'partition="0"' not in metrics
    assert 'partition="2"' not in metrics
    assert not worker._retries


def test_event_histogram_adds_many_observations_at_once_like_prometheus() -> None:
    ours_registry, reference_registry = CollectorRegistry(), CollectorRegistry()
    ours = EventHistogram("work_seconds", "Work.")
    ours_registry.register(ours)
    reference = Histogram("work_seconds", "Work.", registry=reference_registry)
    for value, count in ((0.004, 3), (0.005, 2), (0.3, 1), (2.0, 4), (99.0, 1), (0.1, 0)):
        ours.observe_many(value, count)
        for _ in range(count):
            reference.observe(value)

    def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        text = generate_latest(registry).decode()
        return {
            (sample.name, sample.labels.get("le", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if not sample.name.endswith("_created")  # prometheus_client's own start timestamp
        }

    ours_samples, reference_samples = samples(ours_registry), samples(reference_registry)
    assert ours_samples.keys() == reference_samples.keys()
    for key, value in reference_samples.items():
        assert ours_samples[key] == pytest.approx(value), key
    assert ours_samples[("work_seconds_count", "")] == 11
