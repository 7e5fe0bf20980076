"""scaler.keda.hpa against the semantics doc section 3.3 and checklist rule 10 (HPA half)."""

from __future__ import annotations

import pytest

from kafkakit.errors import ConfigError
from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.hpa import (
    Hpa,
    HpaBehavior,
    HpaPolicy,
    HpaScalingRules,
    HpaSpec,
    parse_behavior,
)
from scaler.keda.lag import LagCalculator, PartitionOffsets
from scaler.keda.trigger import KafkaTrigger


def hpa(fixes: Fixes = KEDA_EXACT, **spec: object) -> Hpa:
    return Hpa(HpaSpec(**spec), fixes)  # type: ignore[arg-type]


# Checklist rule 10: ceil(metric / lagThreshold) with a 10 % dead band.


@pytest.mark.parametrize(
    ("metric", "current", "expected"),
    [
        (100, 10, 10),  # ratio 1.0
        (105, 10, 10),  # 1.05 inside
        (110, 10, 10),  # 1.1 boundary is inside
        (90, 10, 10),  # 0.9 boundary is inside
        (111, 10, 12),  # 1.11 outside -> ceil(11.1)
        (89, 10, 9),  # 0.89 outside -> ceil(8.9)
        (0, 10, 1),  # no lag -> min replicas (after stabilisation: first sample)
    ],
)
def test_rule10_average_value_dead_band(metric: float, current: int, expected: int) -> None:
    decision = hpa(target_value=10, downscale_stabilization_seconds=0).evaluate(metric, current, 0)
    assert decision.replicas == expected


def test_rule10_average_value_ignores_ready_pods() -> None:
    decision = hpa(target_value=10).evaluate(50, 2, 0, ready_pods=1)
    assert decision.proposal == 5


def test_value_target_multiplies_ratio_by_ready_pods() -> None:
    decision = hpa(target_type="Value", target_value=10).evaluate(30, 4, 0, ready_pods=2)
    assert decision.proposal == 6  # ceil(3.0 * 2)
    assert hpa(target_type="Value", target_value=10).evaluate(30, 4, 0).proposal == 12


def test_value_target_dead_band_uses_metric_over_target() -> None:
    decision = hpa(target_type="Value", target_value=10).evaluate(10.5, 4, 0)
    assert (decision.proposal, decision.replicas) == (4, 4)


def test_worked_example_lag_29_at_one_replica_asks_for_3() -> None:
    decision = hpa(target_value=10).evaluate(29, 1, 0)
    assert (decision.proposal, decision.replicas) == (3, 3)


def test_metric_is_read_as_milli_quantity() -> None:
    # 10.0004 truncates to 10000 milli: exactly the target, so nothing moves.
    assert hpa(target_value=10).evaluate(10.0004 * 5, 5, 0).proposal == 5


@pytest.mark.parametrize("metric", [-5.0, float("nan"), float("inf")])
def test_negative_nan_inf_metric_reads_as_zero(metric: float) -> None:
    decision = hpa(target_value=10, downscale_stabilization_seconds=0).evaluate(metric, 3, 0)
    assert decision.proposal == 0
    assert decision.replicas == 1


# Issue #2908: 64 partitions, lagThreshold 3000, capped metric 192000.


def partitions_64_report(fixes: Fixes) -> tuple[int, int | None]:
    settings = KafkaTrigger(bootstrap_servers=("k:1",), consumer_group="g", topic="t", lag_threshold=3000)
    offsets = [PartitionOffsets("t", p, 0, 10_000) for p in range(64)]
    report = LagCalculator(settings, fixes).evaluate(offsets)
    return report.metric, report.pinned_replicas


@pytest.mark.parametrize("current", [59, 60, 61, 62, 63])
def test_worked_example_2908_64_partitions_stall_below_64(current: int) -> None:
    metric, pinned = partitions_64_report(Fixes())
    assert metric == 192_000
    decision = hpa(target_value=3000).evaluate(metric, current, 0, pinned_replicas=pinned)
    assert decision.replicas == current


def test_worked_example_2908_stall_persists_over_many_syncs() -> None:
    autoscaler = hpa(target_value=3000)
    replicas = 63
    for sync in range(20):
        replicas = autoscaler.evaluate(192_000, replicas, sync * 15.0).replicas
    assert replicas == 63


@pytest.mark.parametrize("current", [59, 63])
def test_fix_reach_partition_count_adds_the_last_replicas(current: int) -> None:
    fixes = Fixes(reach_partition_count=True)
    metric, pinned = partitions_64_report(fixes)
    decision = hpa(fixes, target_value=3000).evaluate(metric, current, 0, pinned_replicas=pinned)
    assert (decision.proposal, decision.replicas) == (64, 64)
    assert "fix" in decision.reason


def test_fix_reach_partition_count_needs_a_pinned_metric() -> None:
    fixes = Fixes(reach_partition_count=True)
    # Uncapped lag inside the dead band keeps ordinary HPA behaviour.
    assert hpa(fixes, target_value=10).evaluate(105, 10, 0).replicas == 10
    assert hpa(fixes, target_value=10).evaluate(110, 10, 0, pinned_replicas=None).replicas == 10


def test_fix_reach_partition_count_makes_even_distribution_land_on_a_divisor() -> None:
    fixes = Fixes(reach_partition_count=True)
    settings = KafkaTrigger(
        bootstrap_servers=("k:1",),
        consumer_group="g",
        topic="t",
        ensure_even_distribution_of_partitions=True,
    )
    offsets = [PartitionOffsets("t", p, 0, 5) for p in range(64)]  # lag 320 -> factor 32
    report = LagCalculator(settings, fixes).evaluate(offsets)
    assert (report.metric, report.pinned_replicas) == (320, 32)
    keda = hpa(target_value=10).evaluate(report.metric, 30, 0, pinned_replicas=32)
    fixed = hpa(fixes, target_value=10).evaluate(report.metric, 30, 0, pinned_replicas=32)
    assert (keda.replicas, fixed.replicas) == (30, 32)


# Normalisation without behavior.


def test_no_behavior_scale_up_limited_to_max_of_double_or_4() -> None:
    assert hpa(target_value=1).evaluate(50, 1, 0).replicas == 4
    assert hpa(target_value=1).evaluate(50, 10, 0).replicas == 20
    decision = hpa(target_value=1, max_replicas=3).evaluate(50, 1, 0)
    assert (decision.replicas, decision.reason.endswith("TooManyReplicas")) == (3, True)


def test_no_behavior_downscale_uses_highest_recommendation_in_window() -> None:
    autoscaler = hpa(target_value=10)
    assert autoscaler.evaluate(80, 8, 0).replicas == 8
    assert autoscaler.evaluate(20, 8, 100).replicas == 8  # 8 seen 100 s ago
    assert autoscaler.evaluate(20, 8, 299).replicas == 8
    assert autoscaler.evaluate(20, 8, 301).replicas == 2  # 8 fell out of the 300 s window


def test_no_behavior_downscale_window_is_configurable() -> None:
    autoscaler = hpa(target_value=10, downscale_stabilization_seconds=30)
    autoscaler.evaluate(80, 8, 0)
    assert autoscaler.evaluate(20, 8, 31).replicas == 2


def test_min_and_max_clamp() -> None:
    assert hpa(target_value=10, min_replicas=3).evaluate(0, 3, 0).replicas == 3
    assert hpa(target_value=10, max_replicas=5).evaluate(80, 5, 0).replicas == 5
    assert hpa(target_value=10, max_replicas=5).evaluate(10, 9, 0).replicas == 5
    assert hpa(target_value=10, min_replicas=4).evaluate(100, 2, 0).replicas == 4


def test_current_zero_means_scaling_disabled() -> None:
    decision = hpa(target_value=10).evaluate(10_000, 0, 0)
    assert (decision.replicas, decision.reason.split(":")[0]) == (0, "ScalingDisabled")


# Behavior.


def test_behavior_default_scale_up_is_max_of_4_pods_or_100_percent_per_15s() -> None:
    autoscaler = hpa(target_value=1, behavior=HpaBehavior())
    assert autoscaler.evaluate(100, 2, 0).replicas == 6  # max(2 + 4, 2 * 2)
    assert autoscaler.evaluate(100, 6, 5).replicas == 6  # period started at 2: limit 6
    assert autoscaler.evaluate(100, 6, 16).replicas == 12  # new period: max(10, 12)


def test_behavior_select_policy_min_and_disabled() -> None:
    policies = (HpaPolicy("Pods", 4, 15), HpaPolicy("Percent", 100, 15))
    lowest = HpaBehavior(scale_up=HpaScalingRules(0, "Min", policies))
    assert hpa(target_value=1, behavior=lowest).evaluate(100, 10, 0).replicas == 14
    off = HpaBehavior(scale_up=HpaScalingRules(0, "Disabled", policies))
    assert hpa(target_value=1, behavior=off).evaluate(100, 10, 0).replicas == 10


def test_behavior_scale_down_pods_policy_over_period() -> None:
    behavior = HpaBehavior(scale_down=HpaScalingRules(0, "Max", (HpaPolicy("Pods", 1, 60),)))
    autoscaler = hpa(target_value=10, behavior=behavior)
    assert autoscaler.evaluate(20, 10, 0).replicas == 9
    assert autoscaler.evaluate(20, 9, 30).replicas == 9
    assert autoscaler.evaluate(20, 9, 61).replicas == 8


def test_behavior_scale_down_percent_truncates() -> None:
    rules = HpaScalingRules(0, "Max", (HpaPolicy("Percent", 50, 60),))
    autoscaler = hpa(target_value=10, behavior=HpaBehavior(scale_down=rules))
    assert autoscaler.evaluate(10, 7, 0).replicas == 3  # int(7 * 0.5)


def test_behavior_scale_down_defaults_to_controller_window() -> None:
    autoscaler = hpa(target_value=10, behavior=HpaBehavior())
    autoscaler.evaluate(80, 8, 0)
    assert autoscaler.evaluate(20, 8, 200).replicas == 8
    assert autoscaler.evaluate(20, 8, 301).replicas == 2


def test_behavior_scale_up_stabilization_window_uses_lowest_recent_proposal() -> None:
    up = HpaScalingRules(60, "Max", (HpaPolicy("Percent", 1000, 15),))
    autoscaler = hpa(target_value=10, behavior=HpaBehavior(scale_up=up))
    assert autoscaler.evaluate(30, 3, 0).replicas == 3
    assert autoscaler.evaluate(100, 3, 30).replicas == 3  # 3 was proposed 30 s ago
    assert autoscaler.evaluate(100, 3, 61).replicas == 10


def test_per_direction_tolerance_from_behavior() -> None:
    behavior = HpaBehavior(scale_up=HpaScalingRules(0, "Max", (HpaPolicy("Pods", 100, 15),), 0.01))
    assert hpa(target_value=10, behavior=behavior).evaluate(105, 10, 0).replicas == 11
    assert hpa(target_value=10).evaluate(105, 10, 0).replicas == 10


def test_parse_behavior_fills_api_defaults() -> None:
    behavior = parse_behavior({"scaleDown": {"stabilizationWindowSeconds": 60}})
    assert behavior.scale_up == HpaBehavior().scale_up
    assert behavior.scale_up.stabilization_window_seconds == 0
    assert behavior.scale_down.stabilization_window_seconds == 60
    assert behavior.scale_down.policies == (HpaPolicy("Percent", 100, 15),)
    assert parse_behavior({}).scale_down.stabilization_window_seconds is None


def test_parse_behavior_reads_policies() -> None:
    behavior = parse_behavior(
        {
            "scaleUp": {
                "selectPolicy": "Min",
                "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
            }
        }
    )
    assert behavior.scale_up == HpaScalingRules(0, "Min", (HpaPolicy("Pods", 2, 30),))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"scaleUp": {"selectPolicy": "max"}}, "selectPolicy"),
        ({"scaleUp": {"policies": []}}, "non-empty list"),
        ({"scaleUp": {"policies": [{"type": "Pod", "value": 1, "periodSeconds": 1}]}}, "type"),
        ({"scaleDown": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 1}]}}, "value"),
        ({"scaleDown": {"stabilizationWindowSeconds": 3601}}, "stabilizationWindowSeconds"),
        ({"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 0}]}}, "period"),
        ({"scaleSideways": {}}, "unknown"),
    ],
)
def test_parse_behavior_errors(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_behavior(raw)


def test_hpa_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="target_type"):
        HpaSpec(target_type="Utilization")
    with pytest.raises(ValueError, match="target_value"):
        HpaSpec(target_value=0.0001)
    with pytest.raises(ValueError, match="min_replicas"):
        HpaSpec(min_replicas=5, max_replicas=2)
