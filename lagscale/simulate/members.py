"""One consumer-group member as `lagscale consume` works: fetched batches, commits, callbacks.

What a member does, as in consumer/worker.py:
* it takes a batch of up to `commit_interval / process_time` events (at most 500) from what its
  partitions have fetched, partition by partition in the order they were assigned (librdkafka
  queues each partition's fetched block whole), and works through it one event at a time;
* what a batch processed becomes committable when the batch ends, and is committed then if
  `commit_interval` has passed since the last commit (an idle member commits once it has);
* rebalance callbacks run only between batches (in poll): a revocation commits everything
  processed so far and gives the partitions up; librdkafka drops what it had prefetched for the
  partitions kept, so they wait `revoke_pause` (`assign_pause` for an assignment) to be fetched
  again, and new partitions `fetch_delay`;
* SIGTERM lets the event in progress finish, commits and leaves; SIGKILL (a crash) commits nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from lagscale.simulate.group_settings import GroupSettings
from lagscale.simulate.topic import SimulatedTopic

MAX_BATCH = 500  # as consumer.worker._MAX_BATCH
EPSILON = 1e-9


class GroupHooks(Protocol):
    """What a member tells its group's coordinator model."""

    def polled(self, member: Member, at: float, revoked: frozenset[int]) -> None:
        """The member ran its pending callbacks at `at` (revoking `revoked`)."""
        ...


@dataclass
class BatchPart:
    partition: int
    first: int
    count: int


@dataclass
class Member:
    number: int
    started_at: float
    settings: GroupSettings
    process_time: float
    group: GroupHooks
    owned: dict[int, float] = field(default_factory=dict)
    """partition -> the time from which its events can be worked on (fetched)."""
    position: dict[int, int] = field(default_factory=dict)
    done: dict[int, int] = field(default_factory=dict)
    """Processed but not yet committed: partition -> the offset to commit."""
    batch: list[BatchPart] = field(default_factory=list)
    batch_start: float = 0.0
    batch_end: float | None = None
    last_commit: float = 0.0
    pending_revoke: set[int] = field(default_factory=set)
    pending_assign: set[int] = field(default_factory=set)
    rejoin: bool = False
    """Told to (re)join at its next poll (the classic protocol's rebalance)."""
    pending_callback: bool = False
    """A rebalance callback is due even if nothing changes (classic: every member, every round)."""
    gone: bool = False
    processed: int = 0

    @property
    def event_time(self) -> float:
        return self.process_time + self.settings.event_overhead

    @property
    def batch_size(self) -> int:
        return max(1, min(MAX_BATCH, int(self.settings.commit_interval / self.process_time)))

    @property
    def has_callbacks(self) -> bool:
        return bool(self.pending_revoke or self.pending_assign or self.rejoin or self.pending_callback)

    def work(self, start: float, end: float, topic: SimulatedTopic) -> None:
        """Everything the member does in [start, end)."""
        moment = start
        while moment < end - EPSILON and not self.gone:
            if self.batch_end is not None:
                if self.batch_end >= end - EPSILON:
                    return
                moment = self.batch_end
                self._finish_batch(moment, topic)
            if self.has_callbacks:
                self._run_callbacks(moment, topic)
            if self._start_batch(moment, topic):
                continue
            waits = [at for p, at in self.owned.items() if at > moment and topic.latest[p] > self.position[p]]
            self._commit_when_idle(moment, end, topic)
            if not waits or min(waits) >= end - EPSILON:
                return
            moment = min(waits)

    def _start_batch(self, moment: float, topic: SimulatedTopic) -> bool:
        room, parts = self.batch_size, []
        for partition, fetchable_from in self.owned.items():
            if room == 0:
                break
            available = topic.latest[partition] - self.position[partition]
            if fetchable_from <= moment + EPSILON and available > 0:
                take = min(room, available)
                parts.append(BatchPart(partition, self.position[partition], take))
                self.position[partition] += take
                room -= take
        if not parts:
            return False
        self.batch, self.batch_start = parts, moment
        self.batch_end = moment + (self.batch_size - room) * self.event_time
        return True

    def _finish_batch(self, moment: float, topic: SimulatedTopic) -> None:
        for part in self.batch:
            self.done[part.partition] = part.first + part.count
            self.processed += part.count
        self.batch, self.batch_end = [], None
        if moment - self.last_commit >= self.settings.commit_interval - EPSILON:
            self._commit(moment, topic)

    def _commit_when_idle(self, moment: float, end: float, topic: SimulatedTopic) -> None:
        due = self.last_commit + self.settings.commit_interval
        if self.done and due < end - EPSILON:
            self._commit(max(moment, due), topic)

    def _commit(self, moment: float, topic: SimulatedTopic) -> None:
        for partition, offset in self.done.items():
            topic.commit(partition, offset)
        self.done.clear()
        self.last_commit = moment

    def _run_callbacks(self, moment: float, topic: SimulatedTopic) -> None:
        revoked = frozenset(self.pending_revoke & self.owned.keys())
        settings = self.settings
        if revoked:
            self._commit(moment, topic)  # the revoke callback commits all that was processed
            for partition in revoked:
                del self.owned[partition], self.position[partition]
            self._refetch(moment + settings.revoke_pause)
        elif self.pending_assign or self.pending_callback:
            self._refetch(moment + settings.assign_pause)
        if self.pending_assign:
            for partition in sorted(self.pending_assign - self.owned.keys()):
                self.owned[partition] = moment + settings.fetch_delay
                self.position[partition] = topic.committed[partition]
        self.pending_revoke.clear()
        self.pending_assign.clear()
        self.rejoin = self.pending_callback = False
        self.group.polled(self, moment, revoked)

    def _refetch(self, ready_at: float) -> None:
        """librdkafka dropped what it had fetched for the partitions it keeps."""
        for partition, fetchable_from in self.owned.items():
            self.owned[partition] = max(fetchable_from, ready_at)

    def stop(self, moment: float, topic: SimulatedTopic) -> float:
        """SIGTERM at `moment` (the event in progress finishes, then commit and leave), or SIGKILL
        with settings.stop == "crash"; returns when the member is gone."""
        gone_at = moment
        if self.settings.stop == "crash":
            self.batch, self.batch_end, self.done = [], None, {}
        elif self.batch_end is not None:
            finished = min(
                math.floor((moment - self.batch_start) / self.event_time) + 1, self._batch_events()
            )
            gone_at = self.batch_start + finished * self.event_time
            for part in self.batch:
                taken = min(part.count, finished)
                if taken:
                    self.done[part.partition] = part.first + taken
                    self.processed += taken
                finished -= taken
            self.batch, self.batch_end = [], None
        if self.settings.stop != "crash":
            self._commit(gone_at, topic)
        self.gone = True
        return gone_at

    def _batch_events(self) -> int:
        return sum(part.count for part in self.batch)
