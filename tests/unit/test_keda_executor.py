"""scaler.keda.executor against the semantics doc sections 3.4 and 3.6, checklist rule 10."""

from __future__ import annotations

import pytest

from kafkakit.errors import ConfigError
from scaler.keda.executor import (
    Executor,
    Fallback,
    FallbackTracker,
    ScaledObjectSpec,
)
from scaler.keda.pause import NO_PAUSE, Pause


def executor(created_at: float = 0.0, pause: Pause = NO_PAUSE, **spec: object) -> Executor:
    return Executor(ScaledObjectSpec(**spec), created_at, pause)  # type: ignore[arg-type]


def test_defaults_match_keda() -> None:
    spec = ScaledObjectSpec()
    assert (spec.polling_interval, spec.cooldown_period, spec.initial_cooldown_period) == (30, 300, 0)
    assert (spec.min_replica_count, spec.max_replica_count) == (0, 100)
    assert (spec.idle_replica_count, spec.fallback) == (None, None)


# Checklist rule 10: KEDA alone does 0 -> 1 and N -> 0.


@pytest.mark.parametrize(("min_count", "target"), [(0, 1), (1, 1), (3, 3)])
def test_rule10_activation_from_zero_goes_to_max_of_min_and_1(min_count: int, target: int) -> None:
    decision = executor(min_replica_count=min_count).decide(True, False, 0, 10)
    assert decision.replicas == target


def test_activation_records_last_active_time() -> None:
    keda = executor()
    keda.decide(True, False, 0, 42)
    assert keda.last_active_time == 42


def test_active_with_replicas_leaves_it_to_hpa_and_refreshes_last_active() -> None:
    keda = executor()
    decision = keda.decide(True, False, 3, 50)
    assert decision.replicas is None
    assert keda.last_active_time == 50


def test_active_with_partial_error_does_not_refresh_last_active() -> None:
    keda = executor()
    keda.decide(True, False, 3, 50)
    decision = keda.decide(True, True, 3, 80)
    assert decision.replicas is None
    assert decision.reason.startswith("PartialTriggerError")
    assert keda.last_active_time == 50


def test_active_below_min_with_idle_scales_to_min() -> None:
    decision = executor(min_replica_count=2, idle_replica_count=0).decide(True, False, 1, 10)
    assert decision.replicas == 2


def test_rule10_scale_to_zero_only_after_cooldown_since_last_active_poll() -> None:
    keda = executor(cooldown_period=300)
    keda.decide(True, False, 0, 0)
    keda.decide(True, False, 4, 100)  # last active poll at 100
    assert keda.decide(False, False, 4, 300).replicas is None
    assert keda.decide(False, False, 4, 400).reason.startswith("ScalerCooldown")  # not strictly after
    assert keda.decide(False, False, 4, 400.5).replicas == 0


def test_never_active_uses_initial_cooldown_since_creation() -> None:
    assert executor(created_at=100).decide(False, False, 1, 100.5).replicas == 0
    keda = executor(created_at=100, initial_cooldown_period=60)
    assert keda.decide(False, False, 1, 150).replicas is None
    assert keda.decide(False, False, 1, 161).replicas == 0


def test_inactive_scales_to_idle_when_set() -> None:
    keda = executor(min_replica_count=2, idle_replica_count=0, cooldown_period=0)
    assert keda.decide(False, False, 5, 10).replicas == 0


def test_inactive_with_min_above_zero_is_left_to_hpa() -> None:
    assert executor(min_replica_count=2).decide(False, False, 5, 10_000).replicas is None


def test_inactive_below_min_scales_up_to_min() -> None:
    assert executor(min_replica_count=3).decide(False, False, 1, 10).replicas == 3


def test_inactive_at_zero_does_nothing() -> None:
    assert executor().decide(False, False, 0, 10_000).replicas is None


def test_errors_never_scale_to_zero_without_fallback() -> None:
    keda = executor(cooldown_period=0)
    decision = keda.decide(False, True, 5, 10_000)
    assert decision.replicas is None
    assert decision.reason.startswith("TriggerError")


def test_error_with_fallback_leaves_it_to_the_hpa_metric_path() -> None:
    keda = executor(fallback=Fallback(failure_threshold=3, replicas=6), cooldown_period=0)
    assert keda.decide(False, True, 5, 10_000).replicas is None


def test_error_with_fallback_replicas_zero_takes_the_scale_in_branch() -> None:
    keda = executor(fallback=Fallback(failure_threshold=3, replicas=0), cooldown_period=0)
    assert keda.decide(False, True, 5, 10_000).replicas == 0


def test_cooldown_ends_after_creation_then_after_the_last_active_poll() -> None:
    keda = executor(created_at=100, initial_cooldown_period=60, cooldown_period=300)
    assert keda.cooldown_ends() == 160
    keda.decide(True, False, 2, 200)
    assert keda.cooldown_ends() == 500


# Pause annotations: the executor does nothing, or scales to paused-replicas once.


@pytest.mark.parametrize("active", [True, False])
def test_paused_does_nothing_active_or_not(active: bool) -> None:
    keda = executor(pause=Pause(paused=True), cooldown_period=0)
    decision = keda.decide(active, False, 0 if active else 4, 10_000)
    assert decision.replicas is None
    assert decision.reason.startswith("paused (autoscaling.keda.sh/paused)")
    assert keda.last_active_time is None


def test_paused_replicas_wins_over_paused_and_is_applied_until_reached() -> None:
    keda = executor(pause=Pause(paused=True, replicas=2))
    assert keda.decide(True, False, 5, 10).replicas == 2
    assert keda.decide(True, False, 5, 20).replicas == 2  # not there yet (the write may have failed)
    assert keda.decide(True, False, 2, 30).replicas is None
    held = keda.decide(False, False, 9, 40)  # changed by hand later: held, not re-applied
    assert (held.replicas, held.reason) == (None, "paused at 2 (paused-replicas): holding 9")


def test_paused_scale_out_skips_activation_only() -> None:
    keda = executor(pause=Pause(scale_out=True), min_replica_count=2, idle_replica_count=0)
    assert keda.decide(True, False, 0, 10).reason == "paused scale-out: not activating 0 -> 2"
    assert keda.last_active_time is None
    assert keda.decide(False, False, 4, 20).replicas == 0  # scale-in still happens


def test_paused_scale_in_skips_scale_in_only() -> None:
    keda = executor(pause=Pause(scale_in=True), cooldown_period=0)
    assert keda.decide(False, False, 3, 10).reason == "paused scale-in: not scaling 3 -> 0"
    assert keda.decide(True, False, 0, 20).replicas == 1  # activation still happens


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"polling_interval": 0}, "pollingInterval: must be at least 1"),
        ({"cooldown_period": -1}, "cooldownPeriod"),
        ({"initial_cooldown_period": -1}, "initialCooldownPeriod"),
        ({"min_replica_count": -1}, "minReplicaCount"),
        ({"max_replica_count": 0}, "maxReplicaCount"),
        ({"min_replica_count": 5, "max_replica_count": 3}, "MinReplicaCount=5 must be less"),
        ({"min_replica_count": 2, "idle_replica_count": 2}, "IdleReplicaCount=2"),
        (
            {"min_replica_count": 0, "min_replica_count_set": True, "idle_replica_count": 1},
            "MinReplicaCount=1",
        ),
        (
            {"idle_replica_count": 0},
            "idleReplicaCount: (0) must be less than minReplicaCount (0): set minReplicaCount",
        ),
        ({"fallback": Fallback(-1, 1)}, "failureThreshold"),
        ({"fallback": Fallback(1, -1)}, "fallback.replicas"),
        ({"fallback": Fallback(1, 1, "sometimes")}, "fallback.behavior"),
    ],
)
def test_spec_validation(spec: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ScaledObjectSpec(**spec).validate()  # type: ignore[arg-type]
    # In our words (naming the field) and, where KEDA rejects it too, in KEDA's.
    assert fragment in f"{caught.value} | {' | '.join(caught.value.keda_problems)}"


def test_spec_validation_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        ScaledObjectSpec(polling_interval=0, cooldown_period=-5).validate()
    assert len(caught.value.problems) == 2


def test_valid_spec_with_idle_below_min() -> None:
    spec = ScaledObjectSpec(min_replica_count=1, idle_replica_count=0)
    assert spec.validate() is spec


def test_idle_zero_with_min_explicitly_zero_is_valid_like_keda() -> None:
    # KEDA compares idle with max(min, 1) once minReplicaCount is set, even to 0.
    spec = ScaledObjectSpec(min_replica_count=0, min_replica_count_set=True, idle_replica_count=0)
    assert spec.validate() is spec


# Fallback.


def test_fallback_activates_only_after_more_than_threshold_failures() -> None:
    tracker = FallbackTracker(Fallback(failure_threshold=2, replicas=5))
    tracker.record_failure()
    tracker.record_failure()
    assert tracker.active is False
    tracker.record_failure()
    assert tracker.active is True
    tracker.record_success()
    assert (tracker.active, tracker.failures) == (False, 0)


@pytest.mark.parametrize(
    ("behavior", "current", "expected"),
    [
        ("static", 3, 50.0),
        ("currentReplicas", 3, 30.0),
        ("currentReplicasIfHigher", 3, 50.0),
        ("currentReplicasIfHigher", 8, 80.0),
        ("currentReplicasIfLower", 3, 30.0),
        ("currentReplicasIfLower", 8, 50.0),
    ],
)
def test_fallback_metric_per_behavior(behavior: str, current: int, expected: float) -> None:
    tracker = FallbackTracker(Fallback(failure_threshold=0, replicas=5, behavior=behavior))
    assert tracker.metric(10, current) == expected


def test_fallback_metric_for_value_target_divides_by_ready_pods() -> None:
    tracker = FallbackTracker(Fallback(failure_threshold=0, replicas=6))
    assert tracker.metric(10, 4, metric_type="Value", ready_pods=3) == 20.0
    with pytest.raises(ConfigError, match="ready pod"):
        tracker.metric(10, 4, metric_type="Value", ready_pods=0)
