"""Pure pieces of the producer: key strategies, pacing, and the produce loop with an in-memory sender."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest

from kafkakit.events import decode_event
from producer.keys import key_function
from producer.loop import ProduceSettings, run_producer
from producer.rate import Pacer
from producer.sender import DeliveryStats


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class RecordingSender:
    """Delivers every event at once; remembers what it got."""

    def __init__(self, fail_every: int = 0) -> None:
        self.stats = DeliveryStats()
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.flushed = False
        self.calls = 0
        self._fail_every = fail_every

    def send(self, keys: Sequence[bytes | None], values: Sequence[bytes]) -> None:
        events = list(zip(keys, values, strict=True))
        self.calls += 1
        for key, value in events:
            self.sent.append((key, value))
            self.stats.record_sent()
            if self._fail_every and len(self.sent) % self._fail_every == 0:
                self.stats.record_failed("broker said no")
            else:
                self.stats.record_delivered(value, 0, len(self.sent) - 1)

    def serve(self) -> None:
        pass

    def flush(self, timeout: float) -> None:
        self.flushed = True

    def close(self) -> None:
        pass


def test_random_keys_stay_in_the_tutorials_range_of_0_to_99() -> None:
    keys = key_function("random", random.Random(7))(range(2000))
    assert len(keys) == 2000
    assert set(keys) == {str(n).encode() for n in range(100)}


def test_sequence_and_none_keys() -> None:
    assert key_function("sequence")(range(41, 43)) == [b"41", b"42"]
    assert key_function("none")(range(3)) == [None, None, None]
    with pytest.raises(ValueError, match="unknown key strategy"):
        key_function("hash")


def test_pacer_spaces_sends_on_an_absolute_timeline() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=4, clock=clock)
    assert pacer.delay() == 0
    assert pacer.delay() == pytest.approx(0.25)
    clock.now += 0.1  # the caller slept less than asked: the next wait makes up for it
    assert pacer.delay() == pytest.approx(0.4)


def test_pacer_catches_up_at_most_one_second_after_a_stall() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=10, clock=clock)
    pacer.delay()
    clock.now += 60
    free_sends = 0
    while pacer.delay() == 0:
        free_sends += 1
    assert free_sends == 1  # rescheduled from now, not 600 events of backlog at once


def test_pacer_with_rate_zero_never_waits() -> None:
    pacer = Pacer(rate=0)
    assert [pacer.delay() for _ in range(3)] == [0, 0, 0]
    with pytest.raises(ValueError, match="rate"):
        Pacer(rate=-1)


def test_loop_sends_count_valid_events_with_sizes_and_flushes() -> None:
    sender = RecordingSender()
    settings = ProduceSettings(topic="t", count=25, size=300, key="sequence")

    summary = run_producer(settings, sender, threading.Event())

    assert (summary.sent, summary.delivered, summary.lost) == (25, 25, 0)
    assert sender.flushed
    assert [decode_event(value).sequence for _, value in sender.sent] == list(range(25))
    assert {len(value) for _, value in sender.sent} == {300}
    assert [key for key, _ in sender.sent][:3] == [b"0", b"1", b"2"]


def test_loop_reports_lost_events() -> None:
    sender = RecordingSender(fail_every=5)

    summary = run_producer(ProduceSettings(topic="t", count=20), sender, threading.Event())

    assert (summary.delivered, summary.failed, summary.lost) == (16, 4, 4)


def test_burst_counts_towards_count_and_skips_pacing() -> None:
    sender = RecordingSender()
    # At 0.001 events/s pacing would take hours: only the unpaced burst can finish quickly.
    stop = threading.Event()
    summary = run_producer(ProduceSettings(topic="t", count=50, burst=50, rate=0.001), sender, stop)
    assert summary.sent == 50


def test_stop_request_ends_a_paced_run() -> None:
    sender = RecordingSender()
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()

    summary = run_producer(ProduceSettings(topic="t", rate=10), sender, stop)

    timer.join()
    assert 2 <= summary.sent <= 6
    assert sender.flushed


def test_unpaced_events_go_to_the_sender_in_chunks_with_unique_ids() -> None:
    sender = RecordingSender()

    summary = run_producer(ProduceSettings(topic="t", count=2500, size=200), sender, threading.Event())

    assert summary.delivered == 2500
    assert sender.calls == 3  # 1000 + 1000 + 500, not one call per event
    events = [decode_event(value) for _, value in sender.sent]
    assert [event.sequence for event in events] == list(range(2500))
    assert len({event.id for event in events}) == 2500


def test_a_burst_is_one_chunk_and_paced_events_go_one_by_one() -> None:
    sender = RecordingSender()

    run_producer(ProduceSettings(topic="t", count=103, burst=100, rate=1000), sender, threading.Event())

    assert sender.calls == 4  # the burst of 100, then 3 paced events


def test_failures_only_reporting_counts_what_left_the_queue_as_delivered() -> None:
    stats = DeliveryStats()
    stats.record_sent(10)
    stats.record_failed("broker said no")
    stats.record_settled(in_flight=4)
    assert (stats.delivered, stats.pending) == (5, 4)
    stats.record_settled(in_flight=0)
    assert (stats.delivered, stats.failed, stats.pending) == (9, 1, 0)


def test_failures_are_logged_once_per_interval_with_the_first_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = RecordingSender(fail_every=1)  # a dead broker: every event fails

    with caplog.at_level(logging.WARNING, logger="producer"):
        summary = run_producer(ProduceSettings(topic="t", count=2500), sender, threading.Event())

    assert summary.failed == 2500
    lines = [record for record in caplog.records if record.getMessage() == "delivery_failed"]
    fields = [getattr(record, "kv_fields", None) for record in lines]
    assert fields == [{"events": 2500, "first_error": "broker said no"}]


def test_take_failures_resets_the_interval_but_not_the_total() -> None:
    stats = DeliveryStats()
    stats.record_failed("first", 3)
    stats.record_failed("second")
    assert stats.take_failures() == (4, "first")
    assert stats.take_failures() == (0, "")
    assert stats.failed == 4


def test_the_producer_runs_without_the_consumer_and_scaler_libraries() -> None:
    # Its image ships confluent-kafka, kafka-python, click and msgspec only (producer/Dockerfile).
    probe = (
        "import sys, producer.cli, lagscale.cli; "
        "print(sorted(m for m in ('prometheus_client', 'kubernetes', 'grpc', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
