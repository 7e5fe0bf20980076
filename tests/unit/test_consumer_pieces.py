"""Pure pieces of the consumer: commit bookkeeping, health decisions, payload previews, metrics."""

from __future__ import annotations

from prometheus_client import generate_latest

from consumer.commits import CommitTracker
from consumer.deadletter import default_dlq_topic, preview
from consumer.health import ASSIGNED, STOPPING, WAITING, ConsumerMetrics, HealthState
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
