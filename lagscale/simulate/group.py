"""The group coordinator's side of a consumer group: who owns which partition, and when that
changes after a member joins, leaves or crashes.

* consumer protocol (KIP-848): the broker keeps a target assignment (sticky, `uniform`). A member
  learns its part only when it heartbeats (every heartbeat_interval, counted from its last
  heartbeat): then it gives up what it must (at its next poll: commit, revoke, and an
  acknowledging heartbeat at once) and takes what is free. A partition that moves therefore waits
  for its old owner's heartbeat and then its new owner's: up to two intervals. Others are untouched.
* classic, eager (range, roundrobin): a join or leave starts a rebalance; each member learns of it
  at its next heartbeat, revokes everything at its next poll and rejoins; when the last one has
  rejoined, everyone gets the new assignment. Nobody consumes between their revoke and that.
* classic, cooperative-sticky (KIP-429): the same two rounds, but the first revokes only what
  moves; the members that gave something up rejoin at once, and the second round hands it out.
  Every member gets a callback in both rounds, even an empty one (and pays its pause).
A crashed member's partitions stay with it until its session times out; its uncommitted work is
then done again by the next owner, who starts at the committed offset.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from lagscale.simulate.assignors import Assignment, assignment_for
from lagscale.simulate.group_settings import GroupSettings
from lagscale.simulate.members import EPSILON, Member


@dataclass
class _Round:
    """A classic rebalance round: who still has to (re)join."""

    waiting: set[int] = field(default_factory=set)
    second: bool = False


class ConsumerGroup:
    """The coordinator model; `advance(now)` runs everything due by `now`."""

    def __init__(self, settings: GroupSettings, partitions: int) -> None:
        self.settings = settings
        self.partitions = partitions
        self.members: dict[int, Member] = {}
        self.owner: dict[int, int] = {}
        """partition -> the member that holds it (assigned, not yet given up)."""
        self.target: Assignment = {}
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._heartbeat_generation: dict[int, int] = {}
        self._round: _Round | None = None
        self._sync_due = False

    # -- scheduling --------------------------------------------------------------------------

    def at(self, moment: float, action: Callable[[], None]) -> None:
        """Run `action` at `moment` (actions due at the same moment run in the order given)."""
        heapq.heappush(self._queue, (moment, next(self._sequence), action))

    def next_due(self) -> float:
        return self._queue[0][0] if self._queue else math.inf

    def run_due(self, moment: float) -> None:
        """Run every action due by `moment`, including those they schedule for it."""
        while self._queue and self._queue[0][0] <= moment + EPSILON:
            _, _, action = heapq.heappop(self._queue)
            action()

    def _schedule_heartbeat(self, member: Member, moment: float) -> None:
        generation = self._heartbeat_generation.get(member.number, 0) + 1
        self._heartbeat_generation[member.number] = generation

        def beat() -> None:
            if self._heartbeat_generation.get(member.number) == generation and not member.gone:
                self._heartbeat(member, moment)

        self.at(moment, beat)

    # -- membership ----------------------------------------------------------------------------

    @property
    def incremental(self) -> bool:
        return self.settings.strategy in ("uniform", "cooperative-sticky")

    def start_stable(self, members: list[Member], committed: list[int], moment: float) -> None:
        """Members that were consuming before the run: the assignment has settled."""
        for member in members:
            self.members[member.number] = member
            self._schedule_heartbeat(member, moment + self.settings.heartbeat_interval)
        self._retarget()
        for number, partitions in self.target.items():
            for partition in partitions:
                self.owner[partition] = number
                self.members[number].owned[partition] = moment
                self.members[number].position[partition] = committed[partition]

    def join(self, member: Member, moment: float) -> None:
        """The member's process is up and asks to join."""
        self.members[member.number] = member
        if self.settings.protocol == "consumer":
            self._retarget()
            self._schedule_heartbeat(member, moment + self.settings.join_latency)
            return
        self._schedule_heartbeat(member, moment + self.settings.heartbeat_interval)
        if self._round is None:
            self._start_round(moment, joined={member.number})
        # else: its JoinGroup joins the round in progress

    def leave(self, member: Member, moment: float) -> None:
        """A graceful stop: the member committed and left; its partitions are free."""
        self._remove(member, moment)

    def crash(self, member: Member, moment: float) -> None:
        """SIGKILL: nothing tells the coordinator; the session times out."""
        self.at(moment + self.settings.session_timeout, lambda: self._remove(member, moment))

    def _remove(self, member: Member, moment: float) -> None:
        self.members.pop(member.number, None)
        for partition in [p for p, owner in self.owner.items() if owner == member.number]:
            del self.owner[partition]
        if self.settings.protocol == "consumer":
            self._retarget()
            return
        if self._round is not None:
            self._round.waiting.discard(member.number)
            self._maybe_sync(moment)
        elif self.members:
            self._start_round(moment, joined=set())

    def _retarget(self) -> None:
        previous = {
            number: [p for p, owner in self.owner.items() if owner == number] for number in self.members
        }
        for number, partitions in self.target.items():
            if number in self.members and not previous[number]:
                previous[number] = partitions
        self.target = assignment_for(self.settings.strategy, list(self.members), self.partitions, previous)

    # -- the consumer protocol -----------------------------------------------------------------

    def _heartbeat(self, member: Member, moment: float) -> None:
        if self.settings.protocol == "classic":
            self._schedule_heartbeat(member, moment + self.settings.heartbeat_interval)
            if self._round is not None and member.number in self._round.waiting:
                self._learn(member)
            return
        target = set(self.target.get(member.number, ()))
        held = {p for p, owner in self.owner.items() if owner == member.number}
        member.pending_revoke |= held - target
        free = sorted(p for p in target if p not in self.owner)
        for partition in free:
            self.owner[partition] = member.number
        member.pending_assign |= set(free)
        self._schedule_heartbeat(member, moment + self.settings.heartbeat_interval)

    def polled(self, member: Member, at: float, revoked: frozenset[int]) -> None:
        """The member ran its callbacks at `at`."""
        for partition in revoked:
            if self.owner.get(partition) == member.number:
                del self.owner[partition]
        if self.settings.protocol == "consumer":
            # librdkafka acknowledges at once with a heartbeat, which may bring more.
            self._schedule_heartbeat(member, at + self.settings.join_latency)
            return
        if self._round is not None and member.number in self._round.waiting:
            self._round.waiting.discard(member.number)
            self._maybe_sync(at)
        elif revoked and self.incremental:
            self._start_round(at, joined={member.number}, second=True)

    # -- the classic protocol ------------------------------------------------------------------

    def _start_round(self, moment: float, joined: set[int], second: bool = False) -> None:
        waiting = {number for number in self.members if number not in joined}
        self._round = _Round(waiting, second)
        if not waiting:
            self._maybe_sync(moment)

    def _learn(self, member: Member) -> None:
        """A heartbeat answered REBALANCE_IN_PROGRESS: rejoin at the next poll (eager: revoking all)."""
        member.rejoin = True
        if not self.incremental:
            member.pending_revoke |= set(member.owned)

    def _maybe_sync(self, moment: float) -> None:
        if self._round is None or self._round.waiting or self._sync_due:
            return
        self._sync_due = True
        self.at(moment + self.settings.join_latency, lambda: self._sync(moment + self.settings.join_latency))

    def _sync(self, moment: float) -> None:
        """Everyone has (re)joined: the leader's assignment goes out (SyncGroup). Partitions that
        another member still has to give up wait for the next round (cooperative-sticky)."""
        self._sync_due = False
        self._round = None
        if not self.members:
            return
        self._retarget()
        for number, member in self.members.items():
            target = set(self.target.get(number, ()))
            held = {p for p, owner in self.owner.items() if owner == number}
            member.pending_revoke |= held - target
            free = {p for p in target if p not in self.owner}
            for partition in free:
                self.owner[partition] = number
            member.pending_assign |= free
            member.pending_callback = True  # librdkafka calls back every member, even with nothing
