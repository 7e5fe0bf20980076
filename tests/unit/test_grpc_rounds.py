"""scaler.grpc.rounds: which members a round reads, which sample an evaluation may use, and what a
failure reaches; in memory (FakeBatchReader), with real threads where waiting is the point."""

from __future__ import annotations

import itertools
import threading

import pytest

from scaler.errors import OffsetsError
from scaler.grpc.rounds import FakeBatchReader, RoundScheduler, Sample
from scaler.kafka.query import OffsetQuery
from scaler.keda.lag import PartitionOffsets
from scaler.loop.clock import FakeClock


def scheduler(
    reader: FakeBatchReader, clock: FakeClock | None = None, max_age: float = 5.0
) -> RoundScheduler:
    return RoundScheduler(reader, clock or FakeClock(), name="test#1", max_age=max_age, wait_limit=10.0)


def offsets(committed: int, end: int = 10) -> list[PartitionOffsets]:
    return [PartitionOffsets("t", 0, committed, end)]


def test_every_take_uses_a_sample_newer_than_the_previous_take() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    member = rounds.join(OffsetQuery("a", "t"))
    reader.offsets["a"] = offsets(1)
    first = member.take()
    reader.offsets["a"] = offsets(2)
    second = member.take()
    assert (first.offsets, second.offsets) == (offsets(1), offsets(2))
    assert first.round_tick < second.round_tick
    assert reader.reads == [["a"], ["a"]]


def test_one_round_serves_every_member_that_needs_a_sample() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    a, b, c = (rounds.join(OffsetQuery(group, "t")) for group in "abc")
    for member in (a, b, c):
        member.take()
    assert reader.reads == [["a", "b", "c"]]  # b and c found their samples waiting
    a.take()  # a's next poll: all three have used their samples, so all are read again
    assert reader.reads[-1] == ["a", "b", "c"]
    assert rounds.rounds == 2


def test_a_member_nobody_asks_for_is_read_once_more_then_left_alone() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    asked, deleted = rounds.join(OffsetQuery("asked", "t")), rounds.join(OffsetQuery("deleted", "t"))
    asked.take()
    deleted.take()  # its last poll
    asked.take()
    asked.take()
    asked.take()
    assert reader.reads == [["asked", "deleted"], ["asked", "deleted"], ["asked"], ["asked"]]


def test_a_sample_is_never_older_than_the_previous_take() -> None:
    clock = FakeClock()
    reader = FakeBatchReader()
    rounds = scheduler(reader, clock)
    fast, slow = rounds.join(OffsetQuery("fast", "t")), rounds.join(OffsetQuery("slow", "t"))
    slow_polls = []
    for second in range(40):
        clock.advance(1)
        fast.take()
        if second % 10 == 0:
            slow_polls.append((clock.now(), slow.take()))
    for (previous_at, _), (_, sample) in itertools.pairwise(slow_polls):
        assert sample.taken_at > previous_at  # read after the previous poll: at most one interval old


def test_a_waiting_sample_older_than_the_max_age_is_not_used() -> None:
    clock = FakeClock()
    reader = FakeBatchReader()
    rounds = scheduler(reader, clock, max_age=5.0)
    a, b = rounds.join(OffsetQuery("a", "t")), rounds.join(OffsetQuery("b", "t"))
    first = a.take()  # reads b too: b has not asked yet
    clock.advance(4)
    assert b.take().round_tick == first.round_tick  # 4 s old: used
    second = a.take()  # reads b again: b has used its sample
    clock.advance(6)
    third = b.take()  # the one waiting for b is 6 s old: a new round
    assert third.round_tick > second.round_tick
    assert third.taken_at == clock.now()
    assert len(reader.reads) == 3


def test_a_round_reads_those_about_to_poll_and_leaves_the_others() -> None:
    """Twelve ScaledObjects polling every 30 s, one every 2.5 s: a round reads the few that poll
    within the max age (5 s), so once the rhythm is known each is read once per poll, in a few
    rounds per polling interval."""
    clock = FakeClock()
    reader = FakeBatchReader()
    rounds = scheduler(reader, clock, max_age=5.0)
    members = [rounds.join(OffsetQuery(f"g{index:02}", "t")) for index in range(12)]
    for interval in range(6):
        if interval == 5:
            reads_before = len(reader.reads)
        for member in members:
            sample = member.take()
            assert clock.now() - sample.taken_at <= 5.0
            clock.advance(2.5)
    last_interval = reader.reads[reads_before:]
    assert len(last_interval) <= 30 / 5 + 1  # a round per max age at most, not one per poll
    for member in members:  # each read exactly once for its one poll
        assert sum(member.query.consumer_group in read for read in last_interval) == 1


def test_max_age_zero_reads_for_every_take() -> None:
    clock = FakeClock()
    reader = FakeBatchReader()
    rounds = scheduler(reader, clock, max_age=0.0)
    a, b = rounds.join(OffsetQuery("a", "t")), rounds.join(OffsetQuery("b", "t"))
    a.take()
    clock.advance(0.001)
    b.take()
    a.take()
    assert reader.reads == [["a"], ["b"], ["a"]]  # nothing read ahead: it could never be used


def test_identical_queries_are_one_query_in_the_read() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    first, second = rounds.join(OffsetQuery("g", "t")), rounds.join(OffsetQuery("g", "t"))
    assert first.take().offsets == second.take().offsets
    assert reader.reads == [["g"]]


def test_a_query_error_fails_only_its_member() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    good, bad = rounds.join(OffsetQuery("good", "t")), rounds.join(OffsetQuery("bad", "t"))
    reader.offsets["good"] = offsets(4)
    reader.errors["bad"] = OffsetsError("topic 't' does not exist", retriable=False)
    with pytest.raises(OffsetsError, match="does not exist"):
        bad.take()
    assert good.take().offsets == offsets(4)
    assert reader.resets == 0


def test_a_read_that_fails_whole_fails_every_member_and_resets_the_client() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    a, b = rounds.join(OffsetQuery("a", "t")), rounds.join(OffsetQuery("b", "t"))
    reader.failure = OffsetsError("cannot reach Kafka", retriable=True)
    with pytest.raises(OffsetsError, match="cannot reach"):
        a.take()
    with pytest.raises(OffsetsError, match="cannot reach"):
        b.take()  # from the same round: one read for both
    assert (len(reader.reads), reader.resets) == (1, 1)
    reader.failure = None
    assert a.take().error is None


def test_a_member_that_left_is_still_answered() -> None:
    reader = FakeBatchReader()
    rounds = scheduler(reader)
    member = rounds.join(OffsetQuery("a", "t"))
    assert rounds.leave(member) == 0
    assert member.take().offsets == []
    assert reader.reads == [["a"]]


class SlowReader(FakeBatchReader):
    """Holds every read until `release` is set, so several callers arrive during one round."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self, queries):  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self.release.wait(10)
        return super().read(queries)


def test_callers_arriving_during_a_round_wait_for_it_or_for_the_next_one() -> None:
    reader = SlowReader()
    rounds = scheduler(reader)
    first, second = rounds.join(OffsetQuery("first", "t")), rounds.join(OffsetQuery("second", "t"))
    results: dict[str, Sample] = {}
    leader = threading.Thread(target=lambda: results.update(first=first.take()))
    leader.start()
    assert reader.entered.wait(10)
    late = rounds.join(OffsetQuery("late", "t"))  # joins while the round runs: not in it
    waiters = [
        threading.Thread(target=lambda: results.update(second=second.take())),
        threading.Thread(target=lambda: results.update(late=late.take())),
    ]
    for thread in waiters:
        thread.start()
    reader.release.set()
    for thread in (leader, *waiters):
        thread.join(10)
    assert set(results) == {"first", "second", "late"}
    assert results["second"].round_tick == results["first"].round_tick  # waited for the running round
    assert results["late"].round_tick > results["first"].round_tick  # not in it: the next one
    assert len(reader.reads) == 2
    assert reader.reads[0] == ["first", "second"]
    assert "late" in reader.reads[1]
