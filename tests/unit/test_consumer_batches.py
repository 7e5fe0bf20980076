"""The worker's batch path with an in-memory client that hands out scripted messages: what is
committed is exactly what was processed, an invalid event in the middle of a batch is dead-lettered
and the rest of the batch processed, and a stop request in the middle of a batch commits only the
events handled before it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from consumer.deadletter import DeadLetterOutcome, DeadLetterResult
from consumer.health import ConsumerMetrics, HealthState
from consumer.settings import ConsumeSettings
from consumer.worker import Worker
from kafkakit.events import Event, encode_event

TOPIC = "t"


class Message:
    """What Consumer.consume() returns, for one event; `on_read` runs when its value is read."""

    def __init__(self, partition: int, offset: int, value: bytes, on_read: Callable[[], None] | None = None):
        self._partition, self._offset, self._value, self._on_read = partition, offset, value, on_read

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        if self._on_read:
            self._on_read()
        return self._value

    def key(self) -> None:
        return None


class ScriptedConsumer:
    """Hands out the queued messages in order, at most `num_messages` per consume(); records
    commits. Time it would have waited for a batch to fill is added up in `waited`."""

    def __init__(self, messages: list[Message]) -> None:
        self.queue = list(messages)
        self.commits: list[dict[int, int]] = []
        self.waited = 0.0
        self.closed = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        assert topics == [TOPIC]
        callbacks["on_assign"](self, [TopicPartition(TOPIC, p) for p in range(3)])

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        batch, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        if len(batch) < num_messages:
            self.waited += timeout  # librdkafka waits for the batch to fill, up to the timeout
        return batch

    def poll(self, timeout: float) -> Message | None:
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        assert not asynchronous
        self.commits.append({tp.partition: tp.offset for tp in offsets})
        return offsets

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, str]] = []

    def send(self, message: Message, reason: str) -> DeadLetterResult:
        self.sent.append((message.partition(), message.offset(), reason))
        return DeadLetterResult(DeadLetterOutcome.STORED)

    def close(self) -> None:
        pass


def valid(sequence: int) -> bytes:
    return encode_event(Event.new(sequence, "test"))


def run(messages: list[Message], stop: threading.Event | None = None, **settings: Any) -> tuple[Any, ...]:
    """Run a worker over `messages`; --process-time 0 unless given (then each event sleeps)."""
    consumer, sink = ScriptedConsumer(messages), RecordingSink()
    settings.setdefault("process_time", 0)
    worker = Worker(
        consumer,  # type: ignore[arg-type]
        ConsumeSettings(topic=TOPIC, group="g", **settings),
        dead_letters=sink,
        metrics=ConsumerMetrics(),
        health=HealthState(stale_after=30),
        stop=stop or threading.Event(),
    )
    return worker.run(), consumer, sink


def interleaved(count: int) -> list[Message]:
    """`count` events spread over three partitions, the way fetches of several partitions arrive."""
    return [Message(n % 3, n // 3, valid(n)) for n in range(count)]


def test_the_commit_covers_exactly_the_processed_events_of_each_partition() -> None:
    summary, consumer, _ = run(interleaved(9), max_events=7)  # 0..6: partition 0 and 1 thrice, 2 twice

    assert summary.processed == 7
    assert consumer.commits[-1] == {0: 3, 1: 2, 2: 2}  # the next offset after the last processed
    assert summary.committed == {(TOPIC, 0): 3, (TOPIC, 1): 2, (TOPIC, 2): 2}
    assert consumer.closed


def test_an_invalid_event_mid_batch_is_dead_lettered_and_the_events_after_it_processed() -> None:
    messages = [Message(0, 0, valid(0)), Message(0, 1, b"poison"), Message(1, 0, valid(1))]
    messages += [Message(0, 2, valid(2)), Message(1, 1, valid(3)), Message(2, 0, b'{"id": "x"}')]

    summary, consumer, sink = run(messages, max_events=6)

    assert [(partition, offset) for partition, offset, _ in sink.sent] == [(0, 1), (2, 0)]
    assert sink.sent[0][2].startswith("not JSON")
    assert "missing field" in sink.sent[1][2]
    assert (summary.processed, summary.failed, summary.dead_lettered) == (4, 2, 2)
    assert consumer.commits[-1] == {0: 3, 1: 2, 2: 1}  # a dead-lettered event is done with


def test_max_events_counts_invalid_events_and_ends_mid_batch() -> None:
    messages = [Message(0, 0, valid(0)), Message(0, 1, b"poison"), Message(0, 2, valid(1))]
    messages += [Message(0, 3, valid(2)), Message(0, 4, valid(3))]

    summary, consumer, _ = run(messages, max_events=3)

    assert (summary.processed, summary.failed) == (2, 1)
    assert consumer.commits == [{0: 3}]  # offsets 3 and 4 were fetched but not handled


def test_a_stop_mid_batch_finishes_the_event_in_progress_and_commits_only_what_was_handled() -> None:
    """With work per event, events are handled one at a time: a stop request (SIGTERM) that
    arrives while the fifth is in progress lets only that one finish."""
    stop = threading.Event()
    messages = interleaved(9)
    messages[4] = Message(1, 1, valid(4), on_read=stop.set)  # partition 1, offset 1

    summary, consumer, _ = run(messages, stop=stop, process_time=0.001)

    assert summary.processed == 5
    assert consumer.commits == [{0: 2, 1: 2, 2: 1}]  # one commit, on the way out
    assert len(consumer.queue) == 0  # the batch was fetched whole; its rest is left uncommitted


def test_without_work_a_stop_lets_the_batch_in_progress_finish_and_commits_exactly_it() -> None:
    """With no work per event a batch is validated in one pass: a stop request during it lets
    that batch (500 events, well under a millisecond) finish, commits it and ends the run."""
    stop = threading.Event()
    messages = interleaved(1200)
    messages[4] = Message(1, 1, valid(4), on_read=stop.set)

    summary, consumer, _ = run(messages, stop=stop)

    assert summary.processed == 500
    assert consumer.commits == [{0: 167, 1: 167, 2: 166}]  # offsets of events 0..499
    assert len(consumer.queue) == 700  # the next batches were never fetched


@pytest.mark.parametrize("max_events", [1, 7, 12])
def test_a_batch_at_once_and_one_by_one_handle_and_commit_the_same(max_events: int) -> None:
    messages = interleaved(12)
    at_once, at_once_consumer, _ = run(messages, max_events=max_events)
    one_by_one, one_by_one_consumer, _ = run(messages, max_events=max_events, process_time=1e-6)

    assert at_once.processed == one_by_one.processed == max_events
    assert at_once_consumer.commits[-1] == one_by_one_consumer.commits[-1]


def test_fetching_never_waits_for_a_batch_to_fill_while_events_are_there() -> None:
    """1,001 events with batches of 500: the last batch has one event, which must not wait
    for 499 more (the poll timeout) before it is processed."""
    summary, consumer, _ = run(interleaved(1001), max_events=1001)

    assert summary.processed == 1001
    assert consumer.waited == 0
