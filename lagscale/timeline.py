"""What a run looked like over time (simulated or live), and the numbers people compare runs by.

The simulator and the local demo both fill a Timeline; the plots and the summary tables read it.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from scaler.loop.decision import Decision


@dataclass(frozen=True)
class Sample:
    """The state at one moment. `time` is seconds since the run started."""

    time: float
    total_lag: int
    current: int
    """Replicas asked for (the Deployment's spec.replicas, or live consumer processes)."""
    ready: int
    """Replicas actually consuming (started pods / processes)."""
    metric: float | None = None
    """The metric of the scaler's latest poll (what the HPA sees), None before the first poll."""
    desired: int | None = None
    """Replicas the latest poll asked for."""
    partition_lags: tuple[int, ...] = ()


@dataclass
class Timeline:
    """Samples of the state, and the scaling loop's decisions with `time` in seconds since the run
    started (the loop's own record, scaler.loop.decision.Decision)."""

    label: str
    partitions: int
    lag_threshold: int
    max_replicas: int
    initial_replicas: int = 0
    samples: list[Sample] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def summary(self) -> RunSummary:
        return summarize(self)

    def at_decisions(self) -> Timeline:
        """The run as the scaling loop saw it, one sample per decision: how the local demo records
        a run, so a simulated run summarised this way compares like for like."""
        samples: list[Sample] = []
        for decision in self.decisions:
            lag = samples[-1].total_lag if samples else 0
            samples.append(decision_sample(decision, decision.desired, lag, ready=0))
        return dataclasses.replace(self, samples=samples)

    def replica_changes(self) -> list[tuple[float, int]]:
        """(time, replicas asked for) at every change, from the decisions (two at one moment, the
        poll's 0 -> 1 and the HPA's 1 -> 4, are both kept); from the samples when there are none."""
        changes: list[tuple[float, int]] = []
        replicas = self.initial_replicas
        points = [(d.time, d.desired) for d in self.decisions] or [(s.time, s.current) for s in self.samples]
        for moment, asked in points:
            if asked != replicas:
                replicas = asked
                changes.append((moment, asked))
        return changes

    def replica_path(self) -> list[int]:
        """The replica counts asked for, in order: e.g. [0, 1, 4, 6, 1, 0]."""
        return [self.initial_replicas, *(replicas for _, replicas in self.replica_changes())]


@dataclass(frozen=True)
class RunSummary:
    """Outcome of a run.

    drain_seconds: from the moment the lag peaked to the first later sample with no lag (None if it
        never drained). replica_seconds: replicas asked for, integrated over time (what you pay for).
    scaling_events: how often the asked-for replica count changed.
    """

    label: str
    duration_seconds: float
    peak_lag: int
    peak_lag_at: float
    drain_seconds: float | None
    replica_seconds: float
    scaling_events: int
    max_replicas_seen: int
    final_replicas: int
    final_lag: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decision_sample(decision: Decision, replicas: int, previous_lag: int, ready: int) -> Sample:
    """A sample at a decision: `replicas` after it was applied; a failed read keeps the last lag."""
    by_partition = sorted(decision.partitions, key=lambda sample: sample.partition)
    return Sample(
        time=decision.time,
        total_lag=decision.total_lag if decision.total_lag is not None else previous_lag,
        current=replicas,
        ready=ready,
        metric=decision.metric,
        desired=decision.desired,
        partition_lags=tuple(sample.lag for sample in by_partition),
    )


def summarize(timeline: Timeline) -> RunSummary:
    samples = timeline.samples
    if not samples:
        return RunSummary(timeline.label, 0.0, 0, 0.0, None, 0.0, 0, 0, 0, 0)
    peak_index = max(range(len(samples)), key=lambda index: samples[index].total_lag)
    peak = samples[peak_index]
    drained_at = next(
        (sample.time for sample in samples[peak_index:] if sample.total_lag <= 0),
        None,
    )
    replica_seconds = sum(
        earlier.current * (later.time - earlier.time) for earlier, later in itertools.pairwise(samples)
    )
    changes = len(timeline.replica_changes())
    return RunSummary(
        label=timeline.label,
        duration_seconds=round(samples[-1].time - samples[0].time, 1),
        peak_lag=peak.total_lag,
        peak_lag_at=round(peak.time, 1),
        drain_seconds=None if drained_at is None else round(drained_at - peak.time, 1),
        replica_seconds=round(replica_seconds, 1),
        scaling_events=changes,
        max_replicas_seen=max(sample.current for sample in samples),
        final_replicas=samples[-1].current,
        final_lag=samples[-1].total_lag,
    )
