"""KEDA's ScaledObject executor (0 <-> 1, cooldown, idle, pause) and the fallback failure counter.

Times are seconds given by the caller; this module keeps no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kafkakit.errors import ConfigError, Problem
from scaler.keda.pause import NO_PAUSE, Pause

FALLBACK_BEHAVIORS = ("static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower")


@dataclass(frozen=True)
class Fallback:
    """spec.fallback: after more than failure_threshold failures, report `replicas` worth."""

    failure_threshold: int
    replicas: int
    behavior: str = "static"


@dataclass(frozen=True)
class ScaledObjectSpec:
    """The ScaledObject fields the executor uses, with KEDA's defaults."""

    polling_interval: int = 30
    cooldown_period: int = 300
    initial_cooldown_period: int = 0
    min_replica_count: int = 0
    max_replica_count: int = 100
    idle_replica_count: int | None = None
    fallback: Fallback | None = None
    min_replica_count_set: bool = False
    """minReplicaCount was given (KEDA's pointer is set); a positive count always counts as given."""

    @property
    def idle_floor(self) -> int:
        """What idleReplicaCount must stay below: max(min, 1) when minReplicaCount is set, else 0."""
        if self.min_replica_count_set or self.min_replica_count > 0:
            return max(self.min_replica_count, 1)
        return 0

    def validate(self) -> ScaledObjectSpec:
        """Raise ConfigError listing every problem (fields named as in the ScaledObject's spec);
        returns self when valid."""
        problems = [
            Problem(name, f"must be at least {low}, got {value}")
            for name, value, low in (
                ("pollingInterval", self.polling_interval, 1),
                ("cooldownPeriod", self.cooldown_period, 0),
                ("initialCooldownPeriod", self.initial_cooldown_period, 0),
                ("minReplicaCount", self.min_replica_count, 0),
                ("maxReplicaCount", self.max_replica_count, 1),
                ("idleReplicaCount", self.idle_replica_count or 0, 0),
            )
            if value < low
        ]
        low, high = self.min_replica_count, self.max_replica_count
        if low > high:
            keda = f"MinReplicaCount={low} must be less than MaxReplicaCount={high}"
            problems.append(
                Problem(
                    "minReplicaCount",
                    f"({low}) must not exceed {{maxReplicaCount}} ({high})",
                    keda,
                    ("maxReplicaCount",),
                )
            )
        floor, idle = self.idle_floor, self.idle_replica_count
        if idle is not None and idle >= floor:
            keda = f"IdleReplicaCount={idle} must be less than MinReplicaCount={floor}"
            advice = "raise {minReplicaCount}" if floor else "set {minReplicaCount} (idle needs one)"
            message = f"({idle}) must be less than {{minReplicaCount}} ({floor}): {advice}, or leave it unset"
            problems.append(Problem("idleReplicaCount", message, keda, ("minReplicaCount",)))
        problems.extend(_fallback_problems(self.fallback))
        if problems:
            raise ConfigError(problems, title="invalid ScaledObject")
        return self


def _fallback_problems(fallback: Fallback | None) -> list[Problem]:
    if fallback is None:
        return []
    problems = [
        Problem(f"fallback.{name}", f"must be at least 0, got {value}")
        for name, value in (("failureThreshold", fallback.failure_threshold), ("replicas", fallback.replicas))
        if value < 0
    ]
    if fallback.behavior not in FALLBACK_BEHAVIORS:
        choices = ", ".join(FALLBACK_BEHAVIORS)
        problems.append(Problem("fallback.behavior", f"must be one of {choices}, got {fallback.behavior!r}"))
    return problems


@dataclass(frozen=True)
class ExecutorDecision:
    """replicas None = leave the replica count alone (the HPA owns 1..N, or nothing to do)."""

    replicas: int | None
    reason: str


class Executor:
    """Decides KEDA's own replica changes after each poll, as KEDA's scale executor does."""

    def __init__(self, spec: ScaledObjectSpec, created_at: float = 0.0, pause: Pause = NO_PAUSE) -> None:
        self.spec = spec
        self.created_at = created_at
        self.pause = pause
        self._last_active_time: float | None = None
        self._reached_paused_replicas = False

    @property
    def last_active_time(self) -> float | None:
        """When a poll last found the object active (KEDA's status.lastActiveTime)."""
        return self._last_active_time

    def decide(self, active: bool, errored: bool, current: int, now: float) -> ExecutorDecision:
        """`active`: any trigger active (fallback counts); `errored`: a trigger failed without
        fallback taking over; `current`: the target's spec.replicas."""
        if self.pause.stops_autoscaling:
            return self._decide_paused(current)
        if active:
            return self._decide_active(errored, current, now)
        return self._decide_inactive(errored, current, now)

    def _decide_paused(self, current: int) -> ExecutorDecision:
        """paused-replicas wins over paused: scale to it until the target has it, then hold."""
        wanted = self.pause.replicas
        if wanted is None:
            return ExecutorDecision(None, f"paused (autoscaling.keda.sh/paused): holding {current}")
        if current == wanted:
            self._reached_paused_replicas = True
        if self._reached_paused_replicas:
            return ExecutorDecision(None, f"paused at {wanted} (paused-replicas): holding {current}")
        return ExecutorDecision(wanted, f"paused-replicas: scale {current} -> {wanted}, then hold")

    def _decide_active(self, errored: bool, current: int, now: float) -> ExecutorDecision:
        spec = self.spec
        below_min_when_idle = spec.idle_replica_count is not None and current < spec.min_replica_count
        if current == 0 or below_min_when_idle:
            target = max(spec.min_replica_count, 1)
            if self.pause.scale_out:
                return ExecutorDecision(None, f"paused scale-out: not activating {current} -> {target}")
            self._last_active_time = _whole_seconds(now)
            return ExecutorDecision(target, f"activated: scale {current} -> {target}")
        if errored:
            # lastActiveTime is deliberately not refreshed on a partial error.
            return ExecutorDecision(None, "PartialTriggerError: active, but a trigger failed")
        self._last_active_time = _whole_seconds(now)
        return ExecutorDecision(None, "active: the HPA owns replicas")

    def _decide_inactive(self, errored: bool, current: int, now: float) -> ExecutorDecision:
        spec = self.spec
        idle = spec.idle_replica_count
        if errored and spec.fallback is not None and spec.fallback.replicas != 0:
            return ExecutorDecision(None, "TriggerError: fallback acts through the HPA metric")
        if errored and spec.fallback is None:
            return ExecutorDecision(None, "TriggerError: errors never scale to zero")
        if (idle is not None and current > idle) or (current > 0 and spec.min_replica_count == 0):
            target = idle if idle is not None else spec.min_replica_count
            if self.pause.scale_in:
                return ExecutorDecision(None, f"paused scale-in: not scaling {current} -> {target}")
            if not self.cooldown_elapsed(now):
                return ExecutorDecision(None, f"ScalerCooldown: waiting to scale to {target}")
            return ExecutorDecision(target, f"inactive after cooldown: scale {current} -> {target}")
        if idle is None and current < spec.min_replica_count:
            target = spec.min_replica_count
            return ExecutorDecision(target, f"below minReplicaCount: scale {current} -> {target}")
        return ExecutorDecision(None, "inactive: nothing to do")

    def cooldown_ends(self) -> float:
        """cooldownPeriod after the last active poll, or initialCooldownPeriod after creation."""
        if self._last_active_time is None:
            return self.created_at + self.spec.initial_cooldown_period
        return self._last_active_time + self.spec.cooldown_period

    def cooldown_elapsed(self, now: float) -> bool:
        """Strictly after the end, as KEDA compares."""
        return self.cooldown_ends() < now


def _whole_seconds(now: float) -> float:
    """KEDA keeps lastActiveTime in the ScaledObject's status, a metav1.Time, which the API server
    stores with whole seconds; KEDA reads it back from there. So the cooldown runs from the start
    of the second of the last active poll: a poll exactly cooldownPeriod after it already scales in
    (seen in the lab with real KEDA)."""
    return float(math.floor(now))


class FallbackTracker:
    """Counts consecutive metric failures of one trigger (KEDA's status.health)."""

    def __init__(self, fallback: Fallback) -> None:
        self.fallback = fallback
        self.failures = 0

    def record_success(self) -> None:
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1

    @property
    def active(self) -> bool:
        """Fallback replaces the error once failures exceed the threshold (strictly)."""
        return self.failures > self.fallback.failure_threshold

    def metric(
        self,
        lag_threshold: float,
        current_replicas: int,
        *,
        metric_type: str = "AverageValue",
        ready_pods: int | None = None,
    ) -> float:
        """The synthetic metric KEDA reports while fallback is active."""
        wanted = self.fallback.replicas
        behavior = self.fallback.behavior
        if behavior == "currentReplicas":
            replicas = current_replicas
        elif behavior == "currentReplicasIfHigher":
            replicas = max(current_replicas, wanted)
        elif behavior == "currentReplicasIfLower":
            replicas = min(current_replicas, wanted)
        else:
            replicas = wanted
        value = float(lag_threshold * replicas)
        if metric_type != "Value":
            return value
        pods = current_replicas if ready_pods is None else ready_pods
        if pods == 0:
            message = "with a Value target needs at least one ready pod"
            raise ConfigError(Problem("fallback", message))
        return value / pods
