"""What-if simulation: KEDA + HPA against a modelled topic, second by second, with no broker.

The scaling rules are not re-implemented here: the real ScalingLoop runs, built from the
scenario's ScalingConfig as for `lagscale scale`, on a FakeClock against the in-memory topic
(an OffsetSource) and Deployment (a ReplicaTarget) of lagscale.simulate.world. Same input, same
output: nothing here reads the wall clock or a random source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kafkakit.errors import ConfigError, Problem
from lagscale.simulate.load import LoadProfile
from lagscale.simulate.world import SIMULATED_TOPIC, SimulatedDeployment, SimulatedTopic
from lagscale.timeline import RunSummary, Sample, Timeline
from scaler.keda.fixes import Fixes
from scaler.loop.clock import FakeClock
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision, Mode
from scaler.loop.scaling_loop import ScalingLoop


@dataclass(frozen=True)
class Scenario:
    """Everything one run depends on: the scaling config (trigger, ScaledObject, HPA, mode, fixes),
    and the modelled world around it."""

    load: LoadProfile
    config: ScalingConfig
    partitions: int = 6
    process_time: float = 0.1
    pod_start_delay: float = 5.0
    initial_replicas: int = 0
    """Pods already consuming when the run starts (e.g. 63 of 64 to see keda#2908)."""
    initial_lag: int = 0
    """Events already waiting when the run starts, spread over the partitions."""
    duration: int = 900
    label: str = ""

    def validate(self) -> Scenario:
        """What the flag types do not already check (a consumer must take time per event)."""
        if self.process_time <= 0:
            raise ConfigError(Problem("--process-time", f"must be > 0 seconds, got {self.process_time:g}"))
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
        }


def run(scenario: Scenario) -> SimulationResult:
    """Simulate `scenario.duration` seconds; the real ScalingLoop decides every replica change."""
    scenario.validate()
    clock = FakeClock(start=0.0)
    config = scenario.config
    topic = SimulatedTopic(
        config.trigger.topic or SIMULATED_TOPIC, scenario.partitions, scenario.process_time
    )
    deployment = SimulatedDeployment(clock, scenario.pod_start_delay, scenario.initial_replicas)
    timeline = Timeline(
        label=scenario.label or config.mode,
        partitions=scenario.partitions,
        lag_threshold=config.trigger.lag_threshold,
        max_replicas=config.spec.max_replica_count,
        initial_replicas=scenario.initial_replicas,
    )
    # The clock starts at 0, so the decisions' times are already seconds since the start.
    loop = ScalingLoop(config, topic, deployment, clock=clock, on_decision=timeline.decisions.append)
    latest = timeline.decisions
    topic.produce(scenario.initial_lag)
    produced, consumed = scenario.initial_lag, 0
    events = scenario.load.events(scenario.duration)
    for second in range(scenario.duration):
        topic.produce(events[second])
        produced += events[second]
        # The scaler looks mid-second: this second's events have arrived but are not processed yet,
        # so consumers that keep up still show in-flight lag, as real commit intervals make them.
        while loop.next_due() <= clock.now():  # the poll and/or HPA sync due this second
            loop.step()
        consumed += topic.consume(deployment.ready_replicas())
        timeline.samples.append(_sample(second, topic, deployment, latest[-1] if latest else None))
        clock.advance(1)
    return SimulationResult(scenario, timeline, produced, consumed)


def compare(scenario: Scenario, variants: Sequence[tuple[Mode, Fixes, str]]) -> list[SimulationResult]:
    """Run the same load once per (mode, fixes, label) variant."""
    return [run(scenario.with_mode(mode, fixes, label)) for mode, fixes, label in variants]


def _sample(
    second: int, topic: SimulatedTopic, deployment: SimulatedDeployment, decision: Decision | None
) -> Sample:
    return Sample(
        time=float(second),
        total_lag=topic.total_lag(),
        current=deployment.current_replicas(),
        ready=deployment.ready_replicas(),
        metric=None if decision is None else decision.metric,
        desired=None if decision is None else decision.desired,
        partition_lags=tuple(topic.partition_lags()),
    )
