"""The simulated world the real ScalingLoop acts on: a Deployment whose pods are consumer-group
members of lagscale.simulate.members, coordinated by lagscale.simulate.group, on the topic of
lagscale.simulate.topic.

Only the environment is modelled here (offsets moving, pods starting, the group rebalancing).
Every scaling rule comes from `scaler.keda` through `scaler.loop.scaling_loop`, exactly as
against a real broker and cluster.

A pod asked for at time t starts its consumer at t + pod_start_delay, which then joins the group;
when it gets partitions depends on the protocol. Consumers start at least pod_start_spread apart,
also when KEDA's 0 -> 1 and the HPA's 1 -> N come in the same poll (processes never start in the
same instant, and with the consumer protocol the first one to join takes every free partition
until its next heartbeat). Scale-in stops the newest pods at once: SIGTERM
(finish the event in progress, commit, leave the group) or, with stop "crash", SIGKILL.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from lagscale.simulate.group import ConsumerGroup
from lagscale.simulate.group_settings import GroupSettings
from lagscale.simulate.members import EPSILON, Member
from lagscale.simulate.topic import SIMULATED_TOPIC, SimulatedTopic
from scaler.loop.clock import Clock

__all__ = ["SIMULATED_TOPIC", "SimulatedDeployment", "SimulatedTopic"]


@dataclass
class _Pod:
    ready_at: float
    member: Member | None = None


class SimulatedDeployment:
    """A ReplicaTarget whose pods become group members `pod_start_delay` seconds after being asked for."""

    def __init__(
        self,
        clock: Clock,
        topic: SimulatedTopic,
        *,
        group: GroupSettings,
        process_time: float,
        pod_start_delay: float,
        initial_replicas: int = 0,
        pod_start_spread: float = 0.0,
    ) -> None:
        if pod_start_delay < 0:
            raise ValueError(f"pod start delay must be >= 0 seconds, got {pod_start_delay}")
        if process_time <= 0:
            raise ValueError(f"process time must be > 0 seconds, got {process_time}")
        self._clock = clock
        self._topic = topic
        self._settings = group
        self._process_time = process_time
        self._delay = pod_start_delay
        self._spread = pod_start_spread
        self.group = ConsumerGroup(group, topic.partitions)
        self._numbers = 0
        self._last_start = -math.inf
        now = clock.now()
        self._pods = [_Pod(now, self._new_member(now)) for _ in range(initial_replicas)]
        self.members: list[Member] = [pod.member for pod in self._pods if pod.member is not None]
        self.group.start_stable(self.members, topic.committed, now)
        self._processed_by_gone = 0

    @property
    def name(self) -> str:
        return "simulated/consumer"

    def current_replicas(self) -> int:
        return len(self._pods)

    def set_replicas(self, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replica count must be >= 0, got {replicas}")
        now = self._clock.now()
        for _ in range(replicas - len(self._pods)):
            pod = _Pod(self._next_start(now))
            self._pods.append(pod)
            self.group.at(pod.ready_at, functools.partial(self._start, pod))
        for pod in self._pods[replicas:]:  # scale-in removes the newest pods first
            if pod.member is not None:
                self._stop(pod.member, now)
        del self._pods[replicas:]

    def _next_start(self, now: float) -> float:
        """Consumers start one after another, at least pod_start_spread apart, also when KEDA's
        0 -> 1 and the HPA's 1 -> N are asked for in the same instant."""
        self._last_start = max(now + self._delay, self._last_start + self._spread)
        return self._last_start

    def _stop(self, member: Member, now: float) -> None:
        gone_at = member.stop(now, self._topic)
        if self._settings.stop == "crash":
            self.group.crash(member, gone_at)
        else:
            self.group.leave(member, gone_at)

    def _new_member(self, started_at: float) -> Member:
        self._numbers += 1
        return Member(self._numbers, started_at, self._settings, self._process_time, self.group)

    def _start(self, pod: _Pod) -> None:
        """The pod's consumer is up and joins the group (unless the pod was removed meanwhile)."""
        if pod in self._pods:
            pod.member = self._new_member(pod.ready_at)
            self.members.append(pod.member)
            self.group.join(pod.member, pod.ready_at)

    def work(self, start: float, end: float) -> None:
        """[start, end): the consumers work, and the coordinator acts, in the order things happen.
        (What a member's callback sets off for later in the same step runs at the next step.)"""
        moment = start
        while True:
            due = self.group.next_due()
            until = min(end, due)
            for member in self.members:
                member.work(moment, until, self._topic)
            if due >= end - EPSILON:
                break
            moment = max(moment, due)
            self.group.run_due(moment)
        self._processed_by_gone += sum(member.processed for member in self.members if member.gone)
        self.members = [member for member in self.members if not member.gone]

    def ready_replicas(self) -> int:
        """Consumers that own partitions (pods that started but wait for partitions do not count)."""
        return sum(1 for member in self.members if member.owned)

    def processed(self) -> int:
        """Events processed so far (counting work done again after a crash)."""
        return self._processed_by_gone + sum(member.processed for member in self.members)
