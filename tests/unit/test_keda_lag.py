"""scaler.keda.lag against the semantics doc, sections 2-3.2 and checklist rules 3-9."""

from __future__ import annotations

import pytest

from scaler.keda.fixes import KEDA_EXACT, Fixes
from scaler.keda.lag import (
    LagCalculator,
    LagReport,
    PartitionOffsets,
    _go_div,
    balanced_factor,
    factors,
)
from scaler.keda.trigger import KafkaTrigger


def trigger(**settings: object) -> KafkaTrigger:
    base: dict[str, object] = {"bootstrap_servers": ("k:9092",), "consumer_group": "g"}
    base.setdefault("topic", "t")
    return KafkaTrigger(**{**base, **settings})  # type: ignore[arg-type]


def lagging(*lags: int, topic: str = "t") -> list[PartitionOffsets]:
    """Partitions whose committed offset is 100 and latest 100 + lag."""
    return [PartitionOffsets(topic, index, 100, 100 + lag) for index, lag in enumerate(lags)]


def evaluate(offsets: list[PartitionOffsets], fixes: Fixes = KEDA_EXACT, **settings: object) -> LagReport:
    return LagCalculator(trigger(**settings), fixes).evaluate(offsets)


def test_sums_lag_over_partitions() -> None:
    report = evaluate(lagging(3, 0, 7))
    assert (report.total_lag, report.total_lag_with_persistent) == (10, 10)
    assert (report.partition_count, report.partitions_with_lag) == (3, 2)
    assert report.metric == 10
    assert [row.lag for row in report.partitions] == [3, 0, 7]


# Checklist rule 3: committed -1.


@pytest.mark.parametrize(
    ("policy", "scale_to_zero", "expected"),
    [("latest", False, 1), ("latest", True, 0), ("earliest", False, 500), ("earliest", True, 0)],
)
def test_rule3_uncommitted_partition_lag(policy: str, scale_to_zero: bool, expected: int) -> None:
    offsets = [PartitionOffsets("t", 0, -1, 500, log_start=0)]
    report = evaluate(offsets, offset_reset_policy=policy, scale_to_zero_on_invalid_offset=scale_to_zero)
    assert report.total_lag == expected
    assert report.partitions[0].reason.startswith("uncommitted")


def test_rule3_latest_uncommitted_counts_1_regardless_of_log_end() -> None:
    report = evaluate([PartitionOffsets("t", 0, -1, 0), PartitionOffsets("t", 1, -1, 10**9)])
    assert report.total_lag == 2
    assert report.active is True
    assert "uncommitted-latest-counts-1" in report.quirks


def test_rule3_uncommitted_check_comes_before_persistent_lag() -> None:
    calculator = LagCalculator(trigger(exclude_persistent_lag=True))
    offsets = [PartitionOffsets("t", 0, -1, 50)]
    reports = [calculator.evaluate(offsets) for _ in range(3)]
    # Never recorded, never excluded (issue #5906): lag 1 every time.
    assert [r.total_lag for r in reports] == [1, 1, 1]


def test_unmatched_offset_reset_policy_treats_minus_one_as_an_offset() -> None:
    report = evaluate([PartitionOffsets("t", 0, -1, 41)], offset_reset_policy="latest,earliest")
    assert report.total_lag == 42
    assert "unmatched-offset-reset-policy" in report.quirks


def test_worked_example_earliest_counts_retention_deleted_offsets() -> None:
    # 1000 records written, retention deleted the first 900: KEDA counts 1000, not 100.
    offsets = [PartitionOffsets("t", 0, -1, 1000, log_start=900)]
    report = evaluate(offsets, offset_reset_policy="earliest")
    assert report.total_lag == 1000
    assert "earliest-counts-deleted-records" in report.quirks


def test_fix_earliest_from_log_start_counts_only_retained_records() -> None:
    offsets = [PartitionOffsets("t", 0, -1, 1000, log_start=900)]
    report = evaluate(offsets, Fixes(earliest_from_log_start=True), offset_reset_policy="earliest")
    assert report.total_lag == 100
    assert "fix:earliest-from-log-start" in report.quirks


def test_fix_earliest_from_log_start_falls_back_to_latest_when_unknown() -> None:
    offsets = [PartitionOffsets("t", 0, -1, 1000, log_start=None)]
    report = evaluate(offsets, Fixes(earliest_from_log_start=True), offset_reset_policy="earliest")
    assert report.total_lag == 1000


# Checklist rule 4: negative lag.


def test_rule4_negative_partition_lag_is_not_clamped() -> None:
    offsets = [PartitionOffsets("t", 0, 120, 100), PartitionOffsets("t", 1, 0, 30)]
    report = evaluate(offsets)
    assert [row.lag for row in report.partitions] == [-20, 30]
    assert report.total_lag == 10
    assert report.partitions_with_lag == 1
    assert "negative-partition-lag-not-clamped" in report.quirks


def test_rule4_negative_total_is_emitted_as_zero() -> None:
    report = evaluate([PartitionOffsets("t", 0, 150, 100)])
    assert report.total_lag == -50
    assert report.metric == 0
    assert report.active is False
    assert "negative-total-emitted-as-zero" in report.quirks


# Checklist rule 5: the cap.


def test_worked_example_two_partitions_threshold_10_lag_29_reports_29() -> None:
    report = evaluate(lagging(15, 14), lag_threshold=10)
    assert report.metric == 29
    assert report.capped is False
    assert report.cap_upper == 2
    assert "cap-off-by-one" in report.quirks


def test_fix_exact_cap_caps_lag_29_at_20() -> None:
    report = evaluate(lagging(15, 14), Fixes(exact_cap=True), lag_threshold=10)
    assert (report.metric, report.capped, report.pinned_replicas) == (20, True, 2)
    assert "fix:exact-cap" in report.quirks


@pytest.mark.parametrize(
    ("total", "metric", "capped"),
    [(20, 20, False), (21, 21, False), (29, 29, False), (30, 20, True), (1000, 20, True)],
)
def test_rule5_cap_uses_integer_division(total: int, metric: int, capped: bool) -> None:
    report = evaluate(lagging(total, 0), lag_threshold=10)
    assert (report.metric, report.capped) == (metric, capped)


@pytest.mark.parametrize(
    ("settings", "metric"),
    [
        ({"allow_idle_consumers": True}, 1000),
        ({"allow_idle_consumers": True, "ensure_even_distribution_of_partitions": True}, 20),
        ({"limit_to_partitions_with_lag": True}, 10),
        ({}, 20),
    ],
)
def test_rule5_cap_skipped_only_for_plain_allow_idle_consumers(
    settings: dict[str, object], metric: int
) -> None:
    report = evaluate(lagging(1000, 0), KEDA_EXACT, lag_threshold=10, **settings)
    assert report.metric == metric


@pytest.mark.parametrize(
    ("numerator", "quotient"), [(-15, -1), (-10, -1), (-9, 0), (15, 1), (0, 0)]
)  # Python's // would give -2 and -1 for the first and third
def test_rule5_cap_division_truncates_toward_zero_for_a_negative_total(numerator: int, quotient: int) -> None:
    assert _go_div(numerator, 10) == quotient


def test_rule5_negative_total_is_never_capped_even_with_no_partition_lagging() -> None:
    # -15 // 10 truncates to -1 (not -2): still not above the upper bound of 0 partitions with lag.
    offsets = [PartitionOffsets("t", 0, 115, 100), PartitionOffsets("t", 1, 100, 100)]
    report = evaluate(offsets, limit_to_partitions_with_lag=True, lag_threshold=10)
    assert (report.total_lag, report.cap_upper, report.capped, report.metric) == (-15, 0, False, 0)


def test_rule5_limit_to_partitions_with_lag_uses_partitions_with_lag_as_upper() -> None:
    report = evaluate(lagging(500, 0, 0, 0), limit_to_partitions_with_lag=True, lag_threshold=10)
    assert (report.cap_upper, report.metric) == (1, 10)


def test_allow_idle_consumers_reports_no_cap_upper() -> None:
    report = evaluate(lagging(1000, 0), allow_idle_consumers=True)
    assert (report.capped, report.cap_upper) == (False, None)


# Checklist rule 6: even distribution.


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, [1]), (12, [1, 2, 3, 4, 6, 12]), (13, [1, 13]), (64, [1, 2, 4, 8, 16, 32, 64]), (0, [])],
)
def test_factors_ascending(n: int, expected: list[int]) -> None:
    assert factors(n) == expected


@pytest.mark.parametrize(
    ("lag", "expected"), [(0, 1), (10, 1), (11, 2), (25, 3), (41, 6), (61, 12), (10**6, 12)]
)
def test_balanced_factor_first_divisor_covering_lag(lag: int, expected: int) -> None:
    assert balanced_factor(lag, 12, 10) == expected


def test_rule6_even_distribution_rewrites_lag_before_cap() -> None:
    report = evaluate(lagging(41, *([0] * 11)), ensure_even_distribution_of_partitions=True)
    assert report.total_lag == 41
    assert (report.metric, report.pinned_replicas, report.capped) == (60, 6, False)


def test_rule6_even_distribution_zero_lag_becomes_one_threshold() -> None:
    report = evaluate(lagging(0, 0, 0), ensure_even_distribution_of_partitions=True)
    assert report.metric == 10
    assert report.active is False
    assert "even-distribution-zero-lag-is-one-threshold" in report.quirks


# Checklist rule 7: activity.


@pytest.mark.parametrize(("activation", "active"), [(0, True), (29, True), (30, False)])
def test_rule7_activity_uses_uncapped_lag_strictly_greater(activation: int, active: bool) -> None:
    report = evaluate(lagging(30, 0), lag_threshold=1, activation_lag_threshold=activation)
    assert report.metric == 2  # capped...
    assert report.active is active  # ...but activity sees the full 30


def test_rule7_zero_lag_is_inactive_at_default_activation() -> None:
    assert evaluate(lagging(0, 0)).active is False


# Checklist rule 8: partitions absent from log-end offsets.


def test_rule8_partition_absent_from_log_end_is_skipped_and_not_counted() -> None:
    offsets = [*lagging(100, 100), PartitionOffsets("t", 2, 0, None)]
    report = evaluate(offsets, lag_threshold=10)
    assert report.partition_count == 2
    assert report.partitions[2].reason.startswith("skipped")
    assert report.partitions[2].lag == 0
    assert report.metric == 20  # cap upper is 2, not 3


# Checklist rule 9: persistent-lag history.


def test_rule9_persistent_lag_excluded_from_metric_but_keeps_active() -> None:
    calculator = LagCalculator(trigger(exclude_persistent_lag=True))
    offsets = [PartitionOffsets("t", 0, 100, 130), PartitionOffsets("t", 1, 5, 25)]
    first = calculator.evaluate(offsets)
    assert (first.total_lag, first.total_lag_with_persistent) == (50, 50)
    second = calculator.evaluate(offsets)
    assert (second.total_lag, second.total_lag_with_persistent) == (0, 50)
    assert second.partitions_with_lag == 0
    assert second.active is True
    assert second.partitions[0].reason.startswith("persistent")


def test_rule9_moving_offset_is_not_persistent() -> None:
    calculator = LagCalculator(trigger(exclude_persistent_lag=True))
    calculator.evaluate([PartitionOffsets("t", 0, 100, 130)])
    assert calculator.evaluate([PartitionOffsets("t", 0, 110, 130)]).total_lag == 20
    assert calculator.evaluate([PartitionOffsets("t", 0, 110, 140)]).total_lag == 0


def test_rule9_history_is_per_instance_and_reset_on_rebuild() -> None:
    settings = trigger(exclude_persistent_lag=True)
    offsets = [PartitionOffsets("t", 0, 100, 130)]
    one, other = LagCalculator(settings), LagCalculator(settings)
    one.evaluate(offsets)
    assert one.evaluate(offsets).total_lag == 0
    assert other.evaluate(offsets).total_lag == 30
    one.reset()
    assert one.evaluate(offsets).total_lag == 30


def test_without_exclude_persistent_lag_no_history_is_kept() -> None:
    calculator = LagCalculator(trigger())
    offsets = [PartitionOffsets("t", 0, 100, 130)]
    calculator.evaluate(offsets)
    assert calculator.evaluate(offsets).total_lag == 30


def test_topic_omitted_sums_all_topics_and_caps_on_total_partitions() -> None:
    offsets = [*lagging(500, topic="a"), *lagging(500, 0, topic="b")]
    report = evaluate(offsets, topic="", lag_threshold=10)
    assert report.partition_count == 3
    assert report.metric == 30
