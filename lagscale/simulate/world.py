"""The simulated world the real ScalingLoop acts on: a topic with a consumer group, and a Deployment.

Only the environment is modelled here (offsets moving, pods starting). Every scaling rule comes
from `scaler.keda` through `scaler.loop.scaling_loop`, exactly as against a real broker and cluster.

Model, per simulated second:
* the producer's events are spread over the partitions round-robin (keys are uniformly random);
* partitions are assigned to the ready consumers round-robin (partition p -> consumer p mod n);
* each consumer handles 1/process_time events per second, shared across its partitions, and
  commits what it processed at once (offset commits are not delayed);
* a pod asked for at time t consumes from t + pod_start_delay on; a removed pod stops at once;
* the scaler reads offsets after the second's events arrived and before they are processed.
"""

from __future__ import annotations

import math

from scaler.keda.lag import PartitionOffsets
from scaler.loop.clock import Clock

SIMULATED_TOPIC = "simulated"


class SimulatedTopic:
    """Log-end and committed offsets per partition; an OffsetSource for the loop."""

    def __init__(self, topic: str, partitions: int, process_time: float) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if process_time <= 0:
            raise ValueError(f"process time must be > 0 seconds, got {process_time}")
        self.topic = topic
        self.process_time = process_time
        self.latest = [0] * partitions
        self.committed = [0] * partitions
        self._next_partition = 0
        self._capacity_carry: dict[int, float] = {}

    @property
    def partitions(self) -> int:
        return len(self.latest)

    def partition_lags(self) -> list[int]:
        return [latest - committed for latest, committed in zip(self.latest, self.committed, strict=True)]

    def total_lag(self) -> int:
        return sum(self.partition_lags())

    def fetch(self) -> list[PartitionOffsets]:
        """Offsets as the scaler would read them from the broker."""
        return [
            PartitionOffsets(self.topic, partition, committed, latest, log_start=0)
            for partition, (committed, latest) in enumerate(zip(self.committed, self.latest, strict=True))
        ]

    def reset(self) -> None:
        """No client to rebuild: the simulated broker never fails."""

    def produce(self, events: int) -> None:
        """Append `events` records, continuing the round-robin where the last call stopped."""
        count = self.partitions
        per_partition, remainder = divmod(events, count)
        for offset in range(count):
            partition = (self._next_partition + offset) % count
            self.latest[partition] += per_partition + (1 if offset < remainder else 0)
        self._next_partition = (self._next_partition + remainder) % count

    def consume(self, consumers: int, seconds: float = 1.0) -> int:
        """Let `consumers` ready members work for `seconds`; returns how many events they processed."""
        processed = 0
        for member in range(consumers):
            assigned = list(range(member, self.partitions, consumers))
            if not assigned:
                self._capacity_carry.pop(member, None)
                continue  # more members than partitions: this one idles
            budget = seconds / self.process_time + self._capacity_carry.get(member, 0.0)
            whole = math.floor(budget + 1e-9)
            used = self._drain(assigned, whole)
            processed += used
            # Fractional capacity carries over only while there is a backlog to spend it on.
            backlog_left = any(self.latest[p] > self.committed[p] for p in assigned)
            self._capacity_carry[member] = budget - whole if backlog_left else 0.0
        for member in [key for key in self._capacity_carry if key >= consumers]:
            del self._capacity_carry[member]
        return processed

    def _drain(self, assigned: list[int], budget: int) -> int:
        """Share `budget` events evenly over the assigned partitions that have lag (water filling)."""
        used = 0
        waiting = [p for p in assigned if self.latest[p] > self.committed[p]]
        while budget > used and waiting:
            share = max(1, (budget - used) // len(waiting))
            for partition in list(waiting):
                if used >= budget:
                    break
                take = min(share, self.latest[partition] - self.committed[partition], budget - used)
                self.committed[partition] += take
                used += take
                if self.latest[partition] == self.committed[partition]:
                    waiting.remove(partition)
        return used


class SimulatedDeployment:
    """A ReplicaTarget whose pods become consumers `pod_start_delay` seconds after being asked for."""

    def __init__(self, clock: Clock, pod_start_delay: float, initial_replicas: int = 0) -> None:
        if pod_start_delay < 0:
            raise ValueError(f"pod start delay must be >= 0 seconds, got {pod_start_delay}")
        self._clock = clock
        self._delay = pod_start_delay
        self._ready_at: list[float] = [clock.now()] * initial_replicas  # oldest first

    @property
    def name(self) -> str:
        return "simulated/consumer"

    def current_replicas(self) -> int:
        return len(self._ready_at)

    def set_replicas(self, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replica count must be >= 0, got {replicas}")
        start = self._clock.now() + self._delay
        self._ready_at.extend([start] * (replicas - len(self._ready_at)))
        del self._ready_at[replicas:]  # scale-in removes the newest pods first

    def ready_replicas(self) -> int:
        now = self._clock.now()
        return sum(1 for ready_at in self._ready_at if ready_at <= now)
