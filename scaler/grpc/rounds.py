"""Rounds: the offsets of the ScaledObjects on one Kafka connection, read together.

KEDA polls each ScaledObject on its own timer. Served one by one, N ScaledObjects on a cluster cost
N Metadata requests and N ListOffsets per leader per polling interval, however few topics they share.
Here the ScaledObjects of one connection are *members* of one scheduler, and an evaluation takes
its member's newest *sample*. A round reads, in one batched read (scaler.kafka.batch), the offsets
of several members at once; members asking while a round runs wait for it, or for the next one.

Which sample an evaluation may use (the freshness rule):
* one read after the member's previous evaluation: every poll of a ScaledObject sees offsets read
  after its previous poll, never one sample twice (KEDA's excludePersistentLag compares successive
  samples, semantics 2.3 step 4), so a sample is never older than the ScaledObject's pollingInterval;
* and at most `max_age` seconds old, unless it is the round this very evaluation waited for.

Which members a round reads, besides the caller: those whose next poll, judged by the gaps between
their recent polls, falls within `max_age` of the round, unless a usable sample already waits for
them. So each ScaledObject is read once per poll (one OffsetFetch for its group), shortly before it
asks, and the topic metadata and log-end offsets are read once per round for all of them: about one
round per `max_age` per connection, however many ScaledObjects it serves. A member asked for only
once is read once more after each use. A ScaledObject KEDA no longer asks for is read at most for
`max_age` after the poll it missed, then left alone until it is forgotten (scaler.grpc.scalers).

No Kafka client here: the batched read is a `BatchReader` (the real one is
scaler.kafka.offsets.KafkaBatchReader; tests use FakeBatchReader below).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kafkakit.errors import BrokerError
from kafkakit.logs import log_event
from scaler.errors import OffsetsError
from scaler.kafka.query import BatchResult, OffsetQuery
from scaler.keda.lag import PartitionOffsets
from scaler.loop.clock import Clock

logger = logging.getLogger("scaler.grpc")
# How many recent gaps between a member's polls tell when it will ask next.
_GAPS_KEPT = 4


class BatchReader(Protocol):
    """Reads many queries on one cluster at once; `reset()` drops the client after a failed read."""

    def read(self, queries: Iterable[OffsetQuery]) -> BatchResult:
        """Per query its offsets or error; raises BrokerError when nothing could be read."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Sample:
    """One member's share of a round: offsets, or the error that failed them."""

    round_tick: int
    taken_at: float
    """Clock time when the round started: the offsets are at most that old plus the round's time."""
    offsets: list[PartitionOffsets] | None
    error: BrokerError | None


class Member:
    """One ScaledObject's query in a scheduler (made by `RoundScheduler.join`), and the rhythm in
    which it takes samples."""

    def __init__(self, scheduler: RoundScheduler, query: OffsetQuery) -> None:
        self.scheduler = scheduler
        self.query = query
        self.latest: Sample | None = None
        self.used_tick = -1
        self.last_take: float | None = None
        self.gaps: deque[float] = deque(maxlen=_GAPS_KEPT)
        """Seconds between its recent takes: its polling interval, or the HPA's, whichever is shorter."""

    def take(self) -> Sample:
        """A sample read after this member's previous take and at most `max_age` old (waiting for
        a round when none is); its error is raised."""
        return self.scheduler.take(self)

    def unused_sample(self) -> Sample | None:
        """Its newest sample, when read after its previous take."""
        latest = self.latest
        return latest if latest is not None and latest.round_tick > self.used_tick else None

    def record_take(self, now: float, tick: int) -> None:
        """It used its newest sample at `now` (clock) and `tick` (the scheduler's order of events)."""
        self.used_tick = tick
        if self.last_take is not None:
            self.gaps.append(now - self.last_take)
        self.last_take = now


class RoundScheduler:
    """The members of one connection and their rounds. The thread that finds no usable sample runs
    the next round itself; the others wait. No thread of its own, so nothing runs when nobody asks."""

    def __init__(
        self, reader: BatchReader, clock: Clock, *, name: str, max_age: float, wait_limit: float
    ) -> None:
        self.reader = reader
        self.name = name
        self._clock = clock
        self._max_age = max_age
        self._wait_limit = wait_limit
        self._members: set[Member] = set()
        self._ticks = itertools.count()
        # A plain lock: the round runner releases it while reading, and takes it back.
        self._condition = threading.Condition(threading.Lock())
        self._running = False
        self.rounds = 0
        self.requests = 0
        self.round_seconds = 0.0

    def join(self, query: OffsetQuery) -> Member:
        member = Member(self, query)
        with self._condition:
            self._members.add(member)
        return member

    def leave(self, member: Member) -> int:
        """Remove the member; returns how many are left."""
        with self._condition:
            self._members.discard(member)
            return len(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def take(self, member: Member) -> Sample:
        deadline = time.monotonic() + self._wait_limit
        with self._condition:
            asked_at_tick = next(self._ticks)
            while True:
                sample = member.unused_sample()
                now = self._clock.now()
                if sample is not None and (
                    sample.round_tick > asked_at_tick or now - sample.taken_at <= self._max_age
                ):
                    member.record_take(now, next(self._ticks))
                    if sample.error is not None:
                        raise sample.error
                    return sample
                if not self._running:
                    self._run_round(member)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise OffsetsError(
                        f"no round on {self.name} finished within {self._wait_limit:g}s", retriable=True
                    )
                self._condition.wait(min(remaining, 1.0))

    def _worth_reading(self, member: Member, now: float) -> bool:
        """Whether this round should read `member` although it is not asking now."""
        if self._max_age <= 0:
            return False  # only a round it waits for itself is fresh enough
        waiting = member.unused_sample()
        if waiting is not None and now - waiting.taken_at <= self._max_age:
            return False  # a usable sample already waits for it
        if not member.gaps or member.last_take is None:
            return waiting is None  # its rhythm is unknown: read once after each use
        next_poll = member.last_take + min(member.gaps)
        return abs(next_poll - now) <= self._max_age

    def _run_round(self, caller: Member) -> None:
        """Read the caller's offsets (even if it has just left) and those of every member worth
        reading now; called, and returns, holding the condition's lock."""
        now = self._clock.now()
        due = [m for m in self._members if m is not caller and self._worth_reading(m, now)] + [caller]
        tick, started = next(self._ticks), time.monotonic()
        self._running = True
        self._condition.release()
        try:
            result, failure = self._read({member.query for member in due})
        finally:
            self._condition.acquire()
            self._running = False
        for member in due:
            error = failure or result.errors.get(member.query)
            offsets = None if error is not None else result.offsets.get(member.query)
            if error is None and offsets is None:
                error = OffsetsError(f"{self.name}: no answer for {member.query}", retriable=True)
            member.latest = Sample(tick, now, offsets, error)
        seconds = time.monotonic() - started
        self.rounds += 1
        self.requests += result.requests
        self.round_seconds += seconds
        self._condition.notify_all()
        log_event(
            logger,
            "round",
            connection=self.name,
            members=len(due),
            queries=len({member.query for member in due}),
            groups=len({member.query.consumer_group for member in due}),
            failed=sum(1 for member in due if member.latest is not None and member.latest.error),
            requests=result.requests,
            seconds=round(seconds, 3),
        )

    def _read(self, queries: set[OffsetQuery]) -> tuple[BatchResult, BrokerError | None]:
        try:
            return self.reader.read(queries), None
        except BrokerError as error:  # nothing read (cannot connect): every member fails alike
            self.reader.reset()
            return BatchResult(), error


class FakeBatchReader:
    """A BatchReader in memory, for tests: offsets or errors per consumer group, a failure that
    fails whole reads (a client that cannot connect), and what each read asked for."""

    def __init__(self) -> None:
        self.offsets: dict[str, list[PartitionOffsets]] = {}
        self.errors: dict[str, BrokerError] = {}
        self.failure: BrokerError | None = None
        self.reads: list[list[str]] = []
        self.resets = 0
        self.closed = False

    def read(self, queries: Iterable[OffsetQuery]) -> BatchResult:
        wanted = list(queries)
        self.reads.append(sorted(query.consumer_group for query in wanted))
        if self.failure is not None:
            raise self.failure
        result = BatchResult(requests=2 + len({query.consumer_group for query in wanted}))
        for query in wanted:
            if query.consumer_group in self.errors:
                result.errors[query] = self.errors[query.consumer_group]
            else:
                result.offsets[query] = list(self.offsets.get(query.consumer_group, []))
        return result

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed = True
