"""Opt-in time-based target: "seconds to drain the lag" instead of "records of lag per replica".

With `targetDrainSeconds: "60"` in the trigger metadata the metric becomes total lag divided by the
group's consume rate, and the target becomes 60: the HPA adds replicas until the backlog would be
gone within a minute. The rate is measured here, from how fast committed offsets advance between
evaluations, smoothed by an exponentially weighted moving average.

KEDA's Kafka scaler cannot offer this: it keeps no offsets between evaluations (only the
excludePersistentLag history), so it knows how far behind a group is, never how fast it catches
up. A lagThreshold therefore has to guess the per-replica throughput; a drain-time target measures it.

The HPA side: the rate is that of all current replicas together, so `seconds / target` is the factor
by which the replica count must change. That is the HPA's `Value` arithmetic (desired = current x
value / target); the trigger must say `metricType: Value` (docs/external-scaler.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kafkakit.errors import Problem
from scaler.keda.lag import NO_COMMIT, PartitionOffsets
from scaler.loop.clock import Clock

TARGET_KEY = "targetDrainSeconds"
WINDOW_KEY = "drainRateWindowSeconds"
DEFAULT_WINDOW_SECONDS = 60.0
# Two evaluations closer than this (KEDA's GetMetrics + IsActive pair) say nothing about a rate.
MIN_SAMPLE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class DrainSettings:
    """target_drain_seconds: the HPA target; rate_window_seconds: the EWMA time constant."""

    target_drain_seconds: float
    rate_window_seconds: float = DEFAULT_WINDOW_SECONDS


def positive_seconds(metadata: Mapping[str, str], key: str, problems: list[Problem]) -> float | None:
    """The metadata value of `key` as seconds > 0, or None (with the problem added)."""
    text = metadata.get(key, "").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        message = f'must be a positive number of seconds, got "{text}"'
        problems.append(Problem(key, message, keda=f'"{key}" {message}'))
        return None
    return value


def parse_drain_settings(metadata: Mapping[str, str]) -> tuple[DrainSettings | None, list[Problem]]:
    """(settings or None when the target is not asked for, problems found in the keys)."""
    problems: list[Problem] = []
    if not metadata.get(TARGET_KEY, "").strip():
        if metadata.get(WINDOW_KEY, "").strip():
            message = f'only applies with "{TARGET_KEY}": set both or neither'
            problems.append(Problem(WINDOW_KEY, message, keda=f'"{WINDOW_KEY}" {message}'))
        return None, problems
    target = positive_seconds(metadata, TARGET_KEY, problems)
    window = DEFAULT_WINDOW_SECONDS
    if metadata.get(WINDOW_KEY, "").strip():
        window = positive_seconds(metadata, WINDOW_KEY, problems) or window
    if target is None or problems:
        return None, problems
    return DrainSettings(target, window), problems


class ConsumeRateMeter:
    """Records per second the group commits, from successive committed-offset samples (EWMA)."""

    def __init__(self, clock: Clock, window_seconds: float = DEFAULT_WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window_seconds
        self._previous: dict[tuple[str, int], int] | None = None
        self._previous_at = 0.0
        self.rate: float | None = None
        """Smoothed records/second; None until two samples at least a second apart."""

    def observe(self, offsets: Sequence[PartitionOffsets], at: float | None = None) -> float | None:
        """Record a sample taken `at` (clock time; now by default); returns the smoothed rate."""
        now = self._clock.now() if at is None else at
        committed = {(o.topic, o.partition): o.committed for o in offsets if o.committed != NO_COMMIT}
        if self._previous is None:
            self._remember(committed, now)
            return self.rate
        elapsed = now - self._previous_at
        if elapsed < MIN_SAMPLE_INTERVAL_SECONDS:
            return self.rate
        deltas = [offset - self._previous[key] for key, offset in committed.items() if key in self._previous]
        if any(delta < 0 for delta in deltas):
            # Offsets went back (group reset, topic recreated): earlier samples describe another log.
            self.rate = None
        else:
            instant = sum(deltas) / elapsed
            weight = 1.0 - math.exp(-elapsed / self._window)
            self.rate = instant if self.rate is None else self.rate + weight * (instant - self.rate)
        self._remember(committed, now)
        return self.rate

    def _remember(self, committed: dict[tuple[str, int], int], now: float) -> None:
        self._previous = committed
        self._previous_at = now


@dataclass(frozen=True)
class DrainEstimate:
    """What the HPA sees in drain mode (`metric`, in seconds) and why (`reason`, for people)."""

    metric: float
    drain_seconds: float | None
    rate: float | None
    fell_back: bool
    reason: str


def estimate_drain(
    total_lag: int, lag_metric: int, lag_threshold: int, rate: float | None, settings: DrainSettings
) -> DrainEstimate:
    """Seconds to drain `total_lag` at `rate`; without a usable rate, KEDA's lag metric in seconds.

    The fallback scales the lag metric so that one lagThreshold of lag counts as one
    targetDrainSeconds: the metric/target ratio is then exactly the one KEDA's lag target gives.
    """
    lag = max(total_lag, 0)
    if lag == 0:
        return DrainEstimate(0.0, 0.0, rate, False, "no lag: nothing to drain")
    if rate is None or rate <= 0:
        metric = max(lag_metric, 0) * settings.target_drain_seconds / lag_threshold
        known = "not measured yet" if rate is None else "zero (no commits advanced)"
        reason = (
            f"consume rate {known}: fell back to KEDA's lag metric ({lag_metric}), "
            f"counting each lagThreshold ({lag_threshold}) as {settings.target_drain_seconds:g}s"
        )
        return DrainEstimate(metric, None, rate, True, reason)
    seconds = lag / rate
    reason = f"lag {lag} at {rate:.3f} records/s drains in {seconds:.1f}s"
    return DrainEstimate(seconds, seconds, rate, False, reason)
