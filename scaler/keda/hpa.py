"""The Kubernetes HPA for one External metric, as kube-controller-manager computes it.

`now` is always given by the caller in seconds; this module keeps no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scaler.keda.behavior import (
    HpaBehavior,
    HpaPolicy,
    HpaScalingRules,
    parse_behavior,
)
from scaler.keda.fixes import KEDA_EXACT, Fixes

__all__ = [
    "Hpa",
    "HpaBehavior",
    "HpaController",
    "HpaDecision",
    "HpaPolicy",
    "HpaScalingRules",
    "HpaSpec",
    "parse_behavior",
]

TARGET_TYPES = ("AverageValue", "Value")


@dataclass(frozen=True)
class HpaController:
    """kube-controller-manager's HPA settings (the same for every HPA of a cluster), with their
    defaults: tolerance, the downscale stabilisation window, and the sync period."""

    tolerance: float = 0.1
    downscale_stabilization_seconds: int = 300
    sync_period_seconds: int = 15


DEFAULT_CONTROLLER = HpaController()


@dataclass(frozen=True)
class HpaSpec:
    """What KEDA puts into the HPA, plus the controller settings that shape its decisions."""

    min_replicas: int = 1
    max_replicas: int = 100
    target_type: str = "AverageValue"
    target_value: float = 10
    tolerance: float = 0.1
    behavior: HpaBehavior | None = None
    downscale_stabilization_seconds: int = 300
    sync_period_seconds: int = 15

    def __post_init__(self) -> None:
        if self.target_type not in TARGET_TYPES:
            raise ValueError(f"target_type must be AverageValue or Value, not {self.target_type!r}")
        if _milli(self.target_value) <= 0:  # the HPA reads targets in milli-units
            raise ValueError(f"target_value must be at least 0.001, got {self.target_value}")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas, got {self.min_replicas}..{self.max_replicas}"
            )


@dataclass(frozen=True)
class HpaDecision:
    """replicas: what the HPA sets; proposal: what the metric alone asked for."""

    replicas: int
    proposal: int
    reason: str


def _milli(value: float) -> int:
    """The metric as the HPA reads it: a milli-quantity, truncated; negative/NaN/Inf read 0."""
    if not math.isfinite(value) or value <= 0:
        return 0
    return int(value * 1000)


class Hpa:
    """Stateful HPA: remembers recommendations (stabilisation) and scale events (policies)."""

    def __init__(self, spec: HpaSpec, fixes: Fixes = KEDA_EXACT) -> None:
        self.spec = spec
        self.fixes = fixes
        self._recommendations: list[tuple[float, int]] = []
        self._scale_up_events: list[tuple[float, int]] = []
        self._scale_down_events: list[tuple[float, int]] = []

    def evaluate(
        self,
        metric: float,
        current: int,
        now: float,
        ready_pods: int | None = None,
        *,
        pinned_replicas: int | None = None,
    ) -> HpaDecision:
        """One HPA sync. `pinned_replicas` is LagReport.pinned_replicas (used by a fix only)."""
        spec = self.spec
        if current == 0 and spec.min_replicas != 0:
            return HpaDecision(0, 0, "ScalingDisabled: target has 0 replicas, KEDA activates it")
        if current > spec.max_replicas:
            decision = HpaDecision(spec.max_replicas, spec.max_replicas, "above maxReplicas")
        elif current < spec.min_replicas:
            decision = HpaDecision(spec.min_replicas, spec.min_replicas, "below minReplicas")
        else:
            proposal, why = self._proposal(metric, current, ready_pods, pinned_replicas)
            replicas, limit = self._normalize(proposal, current, now)
            decision = HpaDecision(replicas, proposal, f"{why}; {limit}")
        if decision.replicas != current:
            self._record_scale_event(current, decision.replicas, now)
        return decision

    def _tolerances(self) -> tuple[float, float]:
        """(scale-down, scale-up) tolerance: per-direction behavior values beat the global one."""
        down = up = self.spec.tolerance
        if self.spec.behavior is not None:
            if self.spec.behavior.scale_down.tolerance is not None:
                down = self.spec.behavior.scale_down.tolerance
            if self.spec.behavior.scale_up.tolerance is not None:
                up = self.spec.behavior.scale_up.tolerance
        return down, up

    def _proposal(
        self, metric: float, current: int, ready_pods: int | None, pinned: int | None
    ) -> tuple[int, str]:
        usage, target = _milli(metric), _milli(self.spec.target_value)
        average = self.spec.target_type == "AverageValue"
        if current == 0:  # only reachable with minReplicas 0
            return math.ceil(usage / target), "scale from zero"
        ratio = usage / (target * current) if average else usage / target
        ready = current if ready_pods is None else ready_pods
        raw = math.ceil(usage / target) if average else math.ceil(ratio * ready)
        down, up = self._tolerances()
        if not 1.0 - down <= ratio <= 1.0 + up:
            return raw, f"ratio {ratio:.3f} outside tolerance: propose {raw}"
        if self.fixes.reach_partition_count and average and pinned == raw != current:
            return raw, f"ratio {ratio:.3f} within tolerance, metric pinned to {raw} (fix)"
        return current, f"ratio {ratio:.3f} within tolerance: keep {current}"

    def _normalize(self, proposal: int, current: int, now: float) -> tuple[int, str]:
        if self.spec.behavior is None:
            return self._normalize_default(proposal, current, now)
        stabilized = self._stabilize_with_behavior(proposal, current, now, self.spec.behavior)
        return self._rate_limit(stabilized, current, now, self.spec.behavior)

    def _normalize_default(self, proposal: int, current: int, now: float) -> tuple[int, str]:
        """No behavior: highest proposal in the downscale window; scale-up at most max(2R, 4)."""
        cutoff = now - self.spec.downscale_stabilization_seconds
        kept = [(at, value) for at, value in self._recommendations if not at < cutoff]
        stabilized = max([proposal] + [value for _, value in kept])
        self._recommendations = [*kept, (now, proposal)]
        scale_up_limit = max(2 * current, 4)
        if self.spec.max_replicas > scale_up_limit:
            maximum, limit_reason = scale_up_limit, "ScaleUpLimit"
        else:
            maximum, limit_reason = self.spec.max_replicas, "TooManyReplicas"
        if stabilized < self.spec.min_replicas:
            return self.spec.min_replicas, "TooFewReplicas"
        if stabilized > maximum:
            return maximum, limit_reason
        return stabilized, "ScaleDownStabilized" if stabilized > proposal else "DesiredWithinRange"

    def _stabilize_with_behavior(self, proposal: int, current: int, now: float, behavior: HpaBehavior) -> int:
        """Up window: lowest recent proposal; down window: highest; current is kept between."""
        up_cutoff = now - (behavior.scale_up.stabilization_window_seconds or 0)
        down_window = behavior.scale_down.stabilization_window_seconds
        if down_window is None:
            down_window = self.spec.downscale_stabilization_seconds
        down_cutoff = now - down_window
        up_limit = down_limit = proposal
        for at, value in self._recommendations:
            if at > up_cutoff:
                up_limit = min(up_limit, value)
            if at > down_cutoff:
                down_limit = max(down_limit, value)
        self._recommendations = [
            (at, value) for at, value in self._recommendations if not (at < up_cutoff and at < down_cutoff)
        ]
        self._recommendations.append((now, proposal))
        return min(max(current, up_limit), down_limit)

    def _rate_limit(self, desired: int, current: int, now: float, behavior: HpaBehavior) -> tuple[int, str]:
        spec = self.spec
        if desired > current:
            limit = max(self._scale_up_limit(current, now, behavior.scale_up), current)
            ceiling, why = (
                (limit, "ScaleUpLimit")
                if spec.max_replicas > limit
                else (spec.max_replicas, "TooManyReplicas")
            )
            if desired > ceiling:
                return ceiling, why
        elif desired < current:
            limit = min(self._scale_down_limit(current, now, behavior.scale_down), current)
            floor, why = (
                (limit, "ScaleDownLimit")
                if spec.min_replicas < limit
                else (spec.min_replicas, "TooFewReplicas")
            )
            if desired < floor:
                return floor, why
        return desired, "DesiredWithinRange"

    def _period_start(self, current: int, now: float, policy: HpaPolicy) -> int:
        """Replica count at the start of the policy period, from the recorded scale events."""
        cutoff = now - policy.period_seconds
        added = sum(change for at, change in self._scale_up_events if at > cutoff)
        removed = sum(change for at, change in self._scale_down_events if at > cutoff)
        return current - added + removed

    def _scale_up_limit(self, current: int, now: float, rules: HpaScalingRules) -> int:
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for policy in rules.policies:
            start = self._period_start(current, now, policy)
            if policy.type == "Pods":
                proposals.append(start + policy.value)
            else:
                proposals.append(math.ceil(start * (1 + policy.value / 100)))
        if not proposals:
            return current
        return max(proposals) if rules.select_policy == "Max" else min(proposals)

    def _scale_down_limit(self, current: int, now: float, rules: HpaScalingRules) -> int:
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for policy in rules.policies:
            start = self._period_start(current, now, policy)
            if policy.type == "Pods":
                proposals.append(start - policy.value)
            else:
                proposals.append(int(start * (1 - policy.value / 100)))
        if not proposals:
            return current
        # "Max" means the policy allowing the biggest change, i.e. the lowest floor.
        return min(proposals) if rules.select_policy == "Max" else max(proposals)

    def _record_scale_event(self, current: int, new: int, now: float) -> None:
        behavior = self.spec.behavior
        if behavior is None:
            return  # events only feed behavior policies
        if new > current:
            rules, events = behavior.scale_up, self._scale_up_events
        else:
            rules, events = behavior.scale_down, self._scale_down_events
        longest = max((policy.period_seconds for policy in rules.policies), default=0)
        events[:] = [(at, change) for at, change in events if not at < now - longest]
        events.append((now, abs(new - current)))
