"""Real runs against `lagscale simulate`, like for like: each run is summarised from the scaling
loop's decisions (how the local demo records a run), and so is the simulation."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lagscale.timeline import Timeline

GOAL = 0.10  # drain time and replica-seconds within 10 % of the real run


@dataclass(frozen=True)
class Outcome:
    """What a run is compared by."""

    drain: float | None
    replica_seconds: float
    path: tuple[int, ...]
    changes: tuple[tuple[float, int], ...]
    """(time, replicas) of every change of the replica count."""
    polls: tuple[tuple[float, int, int, tuple[int, ...]], ...] = ()
    """(time, replicas, total lag, lag per partition) at every poll, for a closer look."""

    @classmethod
    def of(cls, timeline: Timeline) -> Outcome:
        summary = timeline.summary()
        changes, replicas = [], timeline.initial_replicas
        for decision in timeline.decisions:
            if decision.desired != replicas:
                replicas = decision.desired
                changes.append((round(decision.time, 1), replicas))
        polls = tuple(
            (round(d.time, 1), d.desired, d.total_lag or 0, tuple(p.lag for p in d.partitions))
            for d in timeline.decisions
            if d.path == "poll"
        )
        path = tuple(timeline.replica_path())
        return cls(summary.drain_seconds, summary.replica_seconds, path, tuple(changes), polls)

    def as_dict(self) -> dict[str, object]:
        return {
            "drain": self.drain,
            "replica_seconds": self.replica_seconds,
            "path": list(self.path),
            "changes": [list(change) for change in self.changes],
            "polls": [[time, replicas, lag, list(lags)] for time, replicas, lag, lags in self.polls],
        }


def error(model: float | None, real: float | None) -> float | None:
    """(model - real) / real; None when either is missing."""
    if model is None or real is None or real == 0:
        return None
    return (model - real) / real


def spread(values: Sequence[float]) -> float:
    """The largest distance of a run from the median, relative to the median."""
    middle = statistics.median(values)
    return max(abs(value - middle) for value in values) / middle if middle else 0.0


@dataclass(frozen=True)
class Comparison:
    """One scenario: its real runs, the prediction, and a replay per run."""

    name: str
    description: str
    real: list[Outcome]
    predicted: Outcome
    replays: list[Outcome]
    event_times: list[float | None]
    """Each real run's seconds per event (its busiest consumer), None when unknown."""
    model_event_time: float
    """The model's: --process-time plus the measured event_overhead."""

    @property
    def real_drain(self) -> float:
        return statistics.median(o.drain for o in self.real if o.drain is not None)

    @property
    def real_replica_seconds(self) -> float:
        return statistics.median(o.replica_seconds for o in self.real)

    def drain_spread(self) -> float:
        return spread([o.drain for o in self.real if o.drain is not None])

    def replica_seconds_spread(self) -> float:
        return spread([o.replica_seconds for o in self.real])

    def paths(self) -> Counter[tuple[int, ...]]:
        return Counter(o.path for o in self.real)

    def predicted_errors(self) -> tuple[float | None, float | None]:
        return (
            error(self.predicted.drain, self.real_drain),
            error(self.predicted.replica_seconds, self.real_replica_seconds),
        )

    def goal_met(self) -> bool:
        drain, seconds = self.predicted_errors()
        within = drain is not None and seconds is not None and abs(drain) <= GOAL and abs(seconds) <= GOAL
        return within and self.predicted.path in self.paths()
