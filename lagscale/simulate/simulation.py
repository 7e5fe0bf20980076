"""What-if simulation: KEDA + HPA against a modelled topic and consumer group, with no broker.

The scaling rules are not re-implemented here: the real ScalingLoop runs, built from the
scenario's ScalingConfig as for `lagscale scale`, on a fake clock against the in-memory topic
(an OffsetSource) and Deployment (a ReplicaTarget) of lagscale.simulate.world. Time moves in
steps of a tenth of a second, fine enough for commits, pauses and rebalances. Same input, same
output: nothing here reads the wall clock or a random source.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kafkakit.errors import ConfigError, Problem
from lagscale.simulate.group_settings import GroupSettings, measured_group, measured_start_spread
from lagscale.simulate.keys import KeySpread
from lagscale.simulate.load import LoadProfile
from lagscale.simulate.topic import SIMULATED_TOPIC, SimulatedTopic
from lagscale.simulate.world import SimulatedDeployment
from lagscale.timeline import RunSummary, Sample, Timeline
from scaler.keda.fixes import Fixes
from scaler.keda.lag import PartitionOffsets
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision, Mode
from scaler.loop.scaling_loop import ScalingLoop

STEPS_PER_SECOND = 10
# lagscale's own evaluation takes about 1 ms (docs/benchmarks.md, "Lag evaluation cost"); the lab's
# HPA syncs, through the external metrics API, drift by 20-30 ms each.
READ_SECONDS = 0.005
# The clock starts half way into a wall-clock second, the average place: it matters only where
# KEDA keeps whole seconds (lastActiveTime, so a cooldown ends up to a second early).
CLOCK_START = 0.5
_EPSILON = 1e-9


@dataclass(frozen=True)
class Scenario:
    """Everything one run depends on: the scaling config (trigger, ScaledObject, HPA, mode, fixes),
    and the modelled world around it."""

    load: LoadProfile
    config: ScalingConfig
    partitions: int = 6
    process_time: float = 0.1
    pod_start_delay: float = 5.0
    pod_start_spread: float = field(default_factory=measured_start_spread)
    """Pods asked for at once start their consumers this far apart, one after another."""
    initial_replicas: int = 0
    """Pods already consuming when the run starts (e.g. 63 of 64 to see keda#2908)."""
    initial_lag: int = 0
    """Events already waiting when the run starts, spread over the partitions by the keys."""
    duration: int = 900
    label: str = ""
    keys: KeySpread = field(default_factory=KeySpread)
    group: GroupSettings = field(default_factory=measured_group)

    def validate(self) -> Scenario:
        """What the flag types do not already check (a consumer must take time per event)."""
        if self.process_time <= 0:
            raise ConfigError(Problem("--process-time", f"must be > 0 seconds, got {self.process_time:g}"))
        self.keys.shares(self.partitions)  # weights: must match the partitions
        self.group.validate()
        return self

    def with_mode(self, mode: Mode, fixes: Fixes, label: str) -> Scenario:
        return dataclasses.replace(
            self, config=dataclasses.replace(self.config, mode=mode, fixes=fixes), label=label
        )


@dataclass
class SimulationResult:
    scenario: Scenario
    timeline: Timeline
    events_produced: int = 0
    events_consumed: int = 0
    summary: RunSummary = field(init=False)

    def __post_init__(self) -> None:
        self.summary = self.timeline.summary()

    def as_dict(self) -> dict[str, Any]:
        scenario = self.scenario
        return {
            **self.summary.as_dict(),
            "mode": scenario.config.mode,
            "fixes": list(scenario.config.fixes.enabled),
            "load": scenario.load.description,
            "partitions": scenario.partitions,
            "lag_threshold": scenario.config.trigger.lag_threshold,
            "events_produced": self.events_produced,
            "events_consumed": self.events_consumed,
            "replica_path": self.timeline.replica_path(),
            "replica_changes": [
                [round(moment, 1), replicas] for moment, replicas in self.timeline.replica_changes()
            ],
        }


class SimulationClock:
    """The simulation's time: set step by step; the loop's waits only ever reach what is due."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def set(self, moment: float) -> None:
        self._now = moment

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        if seconds > 0:
            self._now += seconds
        return False


def run(scenario: Scenario) -> SimulationResult:
    """Simulate `scenario.duration` seconds; the real ScalingLoop decides every replica change."""
    scenario.validate()
    clock = SimulationClock(CLOCK_START)
    config = scenario.config
    topic = SimulatedTopic(config.trigger.topic or SIMULATED_TOPIC, scenario.partitions, scenario.keys)
    deployment = SimulatedDeployment(
        clock,
        topic,
        group=scenario.group,
        process_time=scenario.process_time,
        pod_start_delay=scenario.pod_start_delay,
        initial_replicas=scenario.initial_replicas,
        pod_start_spread=scenario.pod_start_spread,
    )
    timeline = Timeline(
        label=scenario.label or config.mode,
        partitions=scenario.partitions,
        lag_threshold=config.trigger.lag_threshold,
        max_replicas=config.spec.max_replica_count,
        initial_replicas=scenario.initial_replicas,
    )

    def record(decision: Decision) -> None:
        """Decisions with their time counted from the start of the run."""
        timeline.decisions.append(dataclasses.replace(decision, time=round(decision.time - CLOCK_START, 6)))

    loop = ScalingLoop(config, _TimedReads(topic, clock), deployment, clock=clock, on_decision=record)
    topic.produce(scenario.initial_lag)
    events = scenario.load.events(scenario.duration, 1 / STEPS_PER_SECOND)
    for step, count in enumerate(events):
        now, end = CLOCK_START + step / STEPS_PER_SECOND, CLOCK_START + (step + 1) / STEPS_PER_SECOND
        clock.set(now)
        topic.produce(count)
        # The scaler reads offsets after this step's events arrived and before they are worked on,
        # each poll or HPA sync at its own time within the step (the loop's wait moves the clock).
        while loop.next_due() < end - _EPSILON:
            loop.step()
        if step % STEPS_PER_SECOND == 0:
            latest = timeline.decisions[-1] if timeline.decisions else None
            timeline.samples.append(_sample(step / STEPS_PER_SECOND, topic, deployment, latest))
        deployment.work(now, end)
    return SimulationResult(scenario, timeline, topic.produced, deployment.processed())


class _TimedReads:
    """The topic as the scaler reads it: a read takes READ_SECONDS of simulated time, as it takes
    real time over a network. That a read is never instantaneous matters where the HPA's
    stabilisation window is a whole number of sync periods: a real controller's syncs drift by
    their own duration, so the oldest recommendation falls out of the window (seen in the lab)."""

    def __init__(self, topic: SimulatedTopic, clock: SimulationClock) -> None:
        self._topic = topic
        self._clock = clock

    def fetch(self) -> list[PartitionOffsets]:
        self._clock.wait(READ_SECONDS)
        return self._topic.fetch()

    def reset(self) -> None:
        self._topic.reset()


def compare(scenario: Scenario, variants: Sequence[tuple[Mode, Fixes, str]]) -> list[SimulationResult]:
    """Run the same load once per (mode, fixes, label) variant."""
    return [run(scenario.with_mode(mode, fixes, label)) for mode, fixes, label in variants]


def _sample(
    moment: float, topic: SimulatedTopic, deployment: SimulatedDeployment, decision: Decision | None
) -> Sample:
    return Sample(
        time=round(moment, 3),
        total_lag=topic.total_lag(),
        current=deployment.current_replicas(),
        ready=deployment.ready_replicas(),
        metric=None if decision is None else decision.metric,
        desired=None if decision is None else decision.desired,
        partition_lags=tuple(topic.partition_lags()),
    )
