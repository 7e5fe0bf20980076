"""Sizing in `direct` mode, lagscale's own faster rhythm: ceil(metric / lagThreshold) at every poll.

It stays inside KEDA's bounds: [max(min, 1) .. max] while active (an active fallback counts as
active), at most one replica per partition when KEDA's cap applies, and the pause annotations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.lag import LagReport
from scaler.keda.pause import NO_PAUSE, Pause


@dataclass(frozen=True)
class DirectSizing:
    """Replica counts for direct mode; `threshold` is the trigger's lagThreshold."""

    spec: ScaledObjectSpec
    threshold: float
    pause: Pause = NO_PAUSE

    @property
    def lowest_running(self) -> int:
        return max(self.spec.min_replica_count, 1)

    def proportional(self, report: LagReport) -> tuple[int, str]:
        """ceil(metric / threshold), at most one replica per partition when KEDA's cap applies
        (its cap lets the metric reach (partitions + 1) x threshold - 1), within [min..max]."""
        raw, why = self._ceil(report.metric)
        if report.cap_upper is not None and raw > report.cap_upper:
            raw = report.cap_upper
            why += f" limited to {raw} partitions"
        return self._clamp(raw, why)

    def fallback(self, metric: float) -> tuple[int, str]:
        """The fallback metric sized like a real one: never below max(min, 1), it is active."""
        desired, why = self._clamp(*self._ceil(metric))
        return desired, f"fallback: {desired} replicas ({why})"

    def respect_paused_direction(self, desired: int, current: int, reason: str) -> tuple[int, str]:
        """paused-scale-out / paused-scale-in freeze that direction (KEDA disables it in the HPA)."""
        if desired > current and self.pause.scale_out:
            return current, f"paused scale-out: holding {current} ({reason})"
        if desired < current and self.pause.scale_in:
            return current, f"paused scale-in: holding {current} ({reason})"
        return desired, reason

    def _ceil(self, metric: float) -> tuple[int, str]:
        raw = math.ceil(metric / self.threshold)
        return raw, f"ceil({metric:g}/{self.threshold:g})={raw}"

    def _clamp(self, wanted: int, why: str) -> tuple[int, str]:
        low, high = self.lowest_running, self.spec.max_replica_count
        desired = min(max(wanted, low), high)
        if desired != wanted:
            why += f" clamped to [{low}..{high}] -> {desired}"
        return desired, why
