"""Consumer-group lag -> KEDA's metric value and activity, per the kafka scaler's rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.trigger import KafkaTrigger

NO_COMMIT = -1


@dataclass(frozen=True)
class PartitionOffsets:
    """Offsets of one partition. committed -1 = the group never committed it; latest None = the
    partition was absent from the log-end-offset responses; log_start None = not fetched."""

    topic: str
    partition: int
    committed: int
    latest: int | None
    log_start: int | None = None


@dataclass(frozen=True)
class PartitionLag:
    """How one partition contributed, and why (`reason` is for people)."""

    topic: str
    partition: int
    committed: int
    latest: int | None
    lag: int
    lag_with_persistent: int
    reason: str


@dataclass(frozen=True)
class LagReport:
    """The result of one evaluation: totals, the metric the HPA sees, and which quirks applied."""

    partitions: list[PartitionLag]
    total_lag: int
    total_lag_with_persistent: int
    partitions_with_lag: int
    partition_count: int
    metric: int
    active: bool
    capped: bool
    cap_upper: int | None
    quirks: list[str] = field(default_factory=list)
    pinned_replicas: int | None = None
    """Replica count the metric was set to stand for (cap or even distribution), else None."""


def factors(n: int) -> list[int]:
    """Divisors of n in ascending order (empty for n < 1)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0] if n >= 1 else []
    large = [n // d for d in reversed(small) if d != n // d]
    return small + large


def balanced_factor(total_lag: int, partitions: int, lag_threshold: int) -> int:
    """Smallest divisor f of the partition count with f * threshold >= lag, else the count."""
    for factor in factors(partitions):
        if factor * lag_threshold >= total_lag:
            return factor
    return partitions


def _go_div(numerator: int, denominator: int) -> int:
    """Integer division truncated toward zero, as Go does (Python's // floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


class LagCalculator:
    """Evaluates offsets for one trigger. Holds the excludePersistentLag history, which lives as
    long as the KEDA scaler instance does; `reset()` is a scaler rebuild."""

    def __init__(self, trigger: KafkaTrigger, fixes: Fixes = KEDA_EXACT) -> None:
        self.trigger = trigger
        self.fixes = fixes
        self._previous_committed: dict[tuple[str, int], int] = {}

    def reset(self) -> None:
        """Forget the persistent-lag history, as KEDA does whenever it rebuilds the scaler."""
        self._previous_committed.clear()

    def evaluate(self, offsets: Sequence[PartitionOffsets]) -> LagReport:
        quirks: list[str] = []
        rows = [self._partition_lag(entry, quirks) for entry in offsets]
        counted = [row for row in rows if row.latest is not None]
        total_lag = sum(row.lag for row in counted)
        total_with_persistent = sum(row.lag_with_persistent for row in counted)
        with_lag = sum(1 for row in counted if row.lag > 0)
        metric, capped, upper, pinned = self._metric(total_lag, len(counted), with_lag, quirks)
        if metric < 0:
            quirks.append("negative-total-emitted-as-zero")
        return LagReport(
            partitions=rows,
            total_lag=total_lag,
            total_lag_with_persistent=total_with_persistent,
            partitions_with_lag=with_lag,
            partition_count=len(counted),
            metric=max(metric, 0),
            active=total_with_persistent > self.trigger.activation_lag_threshold,
            capped=capped,
            cap_upper=upper,
            quirks=_unique(quirks),
            pinned_replicas=pinned,
        )

    def _partition_lag(self, entry: PartitionOffsets, quirks: list[str]) -> PartitionLag:
        lag, with_persistent, reason = self._lag_pair(entry, quirks)
        if lag < 0:
            quirks.append("negative-partition-lag-not-clamped")
        return PartitionLag(
            topic=entry.topic,
            partition=entry.partition,
            committed=entry.committed,
            latest=entry.latest,
            lag=lag,
            lag_with_persistent=with_persistent,
            reason=reason,
        )

    def _lag_pair(self, entry: PartitionOffsets, quirks: list[str]) -> tuple[int, int, str]:
        """(lag, lagWithPersistent, reason) in KEDA's rule order (semantics section 2.3)."""
        if entry.latest is None:
            quirks.append("partition-absent-from-log-end-skipped")
            return 0, 0, "skipped: absent from log-end offsets (not counted)"
        latest, committed = entry.latest, entry.committed
        policy = self.trigger.offset_reset_policy
        if committed == NO_COMMIT and policy in ("latest", "earliest"):
            return self._uncommitted(entry, latest, quirks)
        if committed == NO_COMMIT:
            # A comma value like "latest,earliest" passes the enum check but matches no policy:
            # KEDA then treats -1 as an offset, so the lag is latest + 1.
            quirks.append("unmatched-offset-reset-policy")
        if self.trigger.exclude_persistent_lag:
            key = (entry.topic, entry.partition)
            if self._previous_committed.get(key) == committed:
                return 0, latest - committed, "persistent: excluded (committed offset unchanged)"
            self._previous_committed[key] = committed
        lag = latest - committed
        reason = "negative: committed ahead of log end, not clamped" if lag < 0 else "lag"
        return lag, lag, reason

    def _uncommitted(self, entry: PartitionOffsets, latest: int, quirks: list[str]) -> tuple[int, int, str]:
        policy = self.trigger.offset_reset_policy
        if self.trigger.scale_to_zero_on_invalid_offset:
            return 0, 0, f"uncommitted: {policy} policy with scaleToZeroOnInvalidOffset counts 0"
        if policy == "latest":
            quirks.append("uncommitted-latest-counts-1")
            return 1, 1, "uncommitted: latest policy counts 1"
        if self.fixes.earliest_from_log_start and entry.log_start is not None:
            lag = latest - entry.log_start
            quirks.append("fix:earliest-from-log-start")
            return lag, lag, "uncommitted: earliest policy counts latest - log start (fix)"
        if entry.log_start:
            quirks.append("earliest-counts-deleted-records")
        return latest, latest, "uncommitted: earliest policy counts the log-end offset"

    def _metric(
        self, total_lag: int, partition_count: int, with_lag: int, quirks: list[str]
    ) -> tuple[int, bool, int | None, int | None]:
        """(metric, capped, cap upper bound, pinned replicas) per semantics section 3.1."""
        trigger = self.trigger
        threshold = trigger.lag_threshold
        limit = trigger.limit_to_partitions_with_lag
        even = trigger.ensure_even_distribution_of_partitions
        if trigger.allow_idle_consumers and not limit and not even:
            return total_lag, False, None, None
        upper = partition_count
        metric = total_lag
        pinned: int | None = None
        if even:
            pinned = balanced_factor(total_lag, partition_count, threshold)
            metric = pinned * threshold
            if total_lag <= 0 < metric:
                quirks.append("even-distribution-zero-lag-is-one-threshold")
            if trigger.allow_idle_consumers:
                quirks.append("allow-idle-ignored-with-even-distribution")
        if limit:
            upper = with_lag
        keda_caps = _go_div(metric, threshold) > upper
        capped = metric > upper * threshold if self.fixes.exact_cap else keda_caps
        if capped and not keda_caps:
            quirks.append("fix:exact-cap")
        elif not capped and metric > upper * threshold:
            quirks.append("cap-off-by-one")
        if capped:
            return upper * threshold, True, upper, upper
        return metric, False, upper, pinned


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
