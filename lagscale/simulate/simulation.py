"""What-if simulation: KEDA + HPA against a modelled topic, second by second, with no broker.

The scaling rules are not re-implemented here: the real `scaler.loop.scaling_loop.ScalingLoop` runs on a
FakeClock against `sim_world`'s in-memory topic (OffsetSource) and Deployment (ReplicaTarget).
Same input, same output: nothing here reads the wall clock or a random source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lagscale.simulate.load import LoadProfile
from lagscale.simulate.world import SimulatedDeployment, SimulatedTopic
from lagscale.timeline import DecisionPoint, RunSummary, Sample, Timeline
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import Fixes
from scaler.keda.hpa import HpaSpec
from scaler.keda.lag import LagCalculator
from scaler.keda.scaledobject import ScaledObjectDefinition
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger
from scaler.loop.clock import FakeClock
from scaler.loop.scaling_loop import Decision, ScalingLoop

MODES = ("keda", "direct")
SIMULATED_TOPIC = "simulated"
SIMULATED_GROUP = "simulated-consumers"
# Trigger metadata that shapes scaling; connection and auth keys do not matter without a broker.
SCALING_KEYS = (
    "topic",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "partitionLimitation",
)


class SimulationError(ValueError):
    """The simulation settings are unusable; the message says what to change."""


@dataclass(frozen=True)
class Scenario:
    """Everything one run depends on. Field names follow KEDA's where KEDA has the setting."""

    load: LoadProfile
    trigger: KafkaTrigger
    spec: ScaledObjectSpec = field(default_factory=ScaledObjectSpec)
    hpa: HpaSpec = field(default_factory=HpaSpec)
    partitions: int = 6
    process_time: float = 0.1
    pod_start_delay: float = 5.0
    initial_replicas: int = 0
    """Pods already consuming when the run starts (e.g. 63 of 64 to see keda#2908)."""
    initial_lag: int = 0
    """Events already waiting when the run starts, spread over the partitions."""
    duration: int = 900
    mode: str = "keda"
    fixes: Fixes = field(default_factory=Fixes)
    label: str = ""

    def validate(self) -> Scenario:
        problems = []
        if self.partitions < 1:
            problems.append(f"--partitions must be at least 1, got {self.partitions}")
        if self.process_time <= 0:
            problems.append(f"--process-time must be > 0 seconds, got {self.process_time:g}")
        if self.pod_start_delay < 0:
            problems.append(f"--pod-start-delay must be >= 0 seconds, got {self.pod_start_delay:g}")
        if self.initial_replicas < 0:
            problems.append(f"--initial-replicas must be >= 0, got {self.initial_replicas}")
        if self.initial_lag < 0:
            problems.append(f"--initial-lag must be >= 0, got {self.initial_lag}")
        if self.duration < 1:
            problems.append(f"--duration must be at least 1 second, got {self.duration}")
        if self.mode not in MODES:
            problems.append(f"--mode must be keda or direct, got {self.mode!r}")
        if problems:
            raise SimulationError("; ".join(problems))
        return self

    def with_mode(self, mode: str, fixes: Fixes, label: str) -> Scenario:
        return dataclasses.replace(self, mode=mode, fixes=fixes, label=label)


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
            "mode": scenario.mode,
            "fixes": list(scenario.fixes.enabled),
            "load": scenario.load.description,
            "partitions": scenario.partitions,
            "lag_threshold": scenario.trigger.lag_threshold,
            "events_produced": self.events_produced,
            "events_consumed": self.events_consumed,
        }


def simulated_trigger(metadata: Mapping[str, str], metric_type: str = "AverageValue") -> KafkaTrigger:
    """Parse trigger metadata with KEDA's own rules, keeping only what shapes scaling."""
    kept = {key: value for key, value in metadata.items() if key in SCALING_KEYS}
    kept.setdefault("topic", SIMULATED_TOPIC)
    kept.update(bootstrapServers="simulated:9092", consumerGroup=SIMULATED_GROUP)
    return parse_trigger(kept, metric_type=metric_type)


class _RecordingMetadata(Mapping[str, str]):
    """Trigger metadata that records every key KEDA's parser looks up."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


# Parses that between them take every path through KEDA's reader: each key and its `...FromEnv`
# variant (nothing given), and the MSK IAM credential keys.
_PROBES: tuple[dict[str, str], ...] = (
    {},
    {
        "bootstrapServers": "probe:9092",
        "consumerGroup": "probe",
        "sasl": "oauthbearer",
        "saslTokenProvider": "aws_msk_iam",
        "tls": "enable",
        "awsRegion": "probe",
        "awsAccessKeyID": "probe",
    },
)


@functools.cache
def keda_metadata_keys() -> frozenset[str]:
    """Every trigger-metadata key KEDA's kafka scaler reads, learnt from the parser itself."""
    keys: set[str] = set()
    for probe in _PROBES:
        metadata = _RecordingMetadata(probe)
        with contextlib.suppress(TriggerError):
            parse_trigger(metadata)
        keys |= metadata.looked_up
    return frozenset(keys)


def unknown_metadata_warnings(metadata: Mapping[str, str]) -> list[str]:
    """One line per key KEDA's kafka trigger does not know (KEDA ignores those silently)."""
    known = keda_metadata_keys()
    warnings = []
    for key in metadata:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(
                f"warning: --metadata {key}: not a kafka trigger parameter, KEDA ignores it{hint}"
            )
    return warnings


def settings_from(
    definition: ScaledObjectDefinition,
) -> tuple[dict[str, str], str, ScaledObjectSpec, HpaSpec]:
    """(trigger metadata, metric type, executor spec, HPA) of a ScaledObject's first kafka trigger."""
    _, trigger = definition.kafka_triggers()[0]
    return dict(trigger.metadata), trigger.metric_type, definition.spec, definition.hpa


def run(scenario: Scenario) -> SimulationResult:
    """Simulate `scenario.duration` seconds; the real ScalingLoop decides every replica change."""
    scenario.validate()
    clock = FakeClock(start=0.0)
    topic = SimulatedTopic(
        scenario.trigger.topic or SIMULATED_TOPIC, scenario.partitions, scenario.process_time
    )
    deployment = SimulatedDeployment(clock, scenario.pod_start_delay, scenario.initial_replicas)
    timeline = Timeline(
        label=scenario.label or scenario.mode,
        partitions=scenario.partitions,
        lag_threshold=scenario.trigger.lag_threshold,
        max_replicas=scenario.spec.max_replica_count,
        initial_replicas=scenario.initial_replicas,
    )
    latest: list[Decision] = []

    def record(decision: Decision) -> None:
        latest.append(decision)
        timeline.decisions.append(_decision_point(decision))

    loop = _make_loop(scenario, topic, deployment, clock, record)
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


def compare(scenario: Scenario, variants: Sequence[tuple[str, Fixes, str]]) -> list[SimulationResult]:
    """Run the same load once per (mode, fixes, label) variant."""
    return [run(scenario.with_mode(mode, fixes, label)) for mode, fixes, label in variants]


def _make_loop(
    scenario: Scenario,
    topic: SimulatedTopic,
    deployment: SimulatedDeployment,
    clock: FakeClock,
    on_decision: Any,
) -> ScalingLoop:
    return ScalingLoop(
        source=topic,
        calculator=LagCalculator(scenario.trigger, scenario.fixes),
        target=deployment,
        spec=scenario.spec,
        hpa_spec=scenario.hpa,
        mode="direct" if scenario.mode == "direct" else "keda",
        clock=clock,
        fixes=scenario.fixes,
        on_decision=on_decision,
    )


def _decision_point(decision: Decision) -> DecisionPoint:
    return DecisionPoint(
        time=decision.time,
        path=decision.path,
        active=decision.active,
        metric=decision.metric,
        total_lag=decision.total_lag,
        current=decision.current,
        desired=decision.desired,
        reason=decision.reason,
    )


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
