"""scaler.explain: the metric as KEDA emits it, the JSON shape, and the human table (no broker)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from scaler.cli.settings import config_from_options
from scaler.explain import explain, keda_action, milli_quantity, partition_status, render, to_json
from scaler.keda.fixes import Fixes
from scaler.keda.hpa import HpaSpec
from scaler.keda.lag import NO_COMMIT, LagCalculator, PartitionOffsets
from scaler.keda.trigger import parse_trigger

TOPIC = "orders"


def trigger(**metadata: str):
    return parse_trigger({"bootstrapServers": "b:9092", "consumerGroup": "g", "topic": TOPIC, **metadata})


def offsets(*rows: tuple[int, int | None]) -> list[PartitionOffsets]:
    return [
        PartitionOffsets(TOPIC, index, committed, latest) for index, (committed, latest) in enumerate(rows)
    ]


@pytest.mark.parametrize(
    ("milli", "text"),
    [
        (0, "0"),
        (-5000, "0"),
        (1000, "1"),
        (29000, "29"),
        (2500, "2500m"),
        (1_500_000, "1500"),
        (29_000_000, "29k"),
        (7_000_000_000, "7M"),
        (123, "123m"),
    ],
)
def test_milli_quantity_is_kubernetes_canonical_form(milli: int, text: str) -> None:
    assert milli_quantity(milli) == text


def test_json_has_keda_metric_totals_partitions_and_hpa_proposal() -> None:
    keda_trigger = trigger()
    report = LagCalculator(keda_trigger).evaluate(offsets((5, 25), (25, 25), (NO_COMMIT, 9)))

    document = to_json(explain(keda_trigger, report, current_replicas=1, requests=3))

    assert (document["metric_name"], document["metric"], document["metric_milli"]) == (
        "s0-kafka-orders",
        "21",
        21000,
    )
    assert (document["total_lag"], document["partitions_with_lag"], document["partition_count"]) == (21, 2, 3)
    assert document["active"] is True
    assert (document["hpa"]["proposal"], document["hpa"]["replicas"]) == (3, 3)
    assert document["requests"] == 3
    assert [p["lag"] for p in document["partitions"]] == [20, 0, 1]
    assert document["partitions"][2]["committed"] == NO_COMMIT
    assert "uncommitted-latest-counts-1" in document["quirks"]


def test_capped_metric_and_negative_total_are_emitted_like_keda() -> None:
    keda_trigger = trigger(lagThreshold="10")
    capped = LagCalculator(keda_trigger).evaluate(offsets((0, 40), (0, 0)))
    negative = LagCalculator(keda_trigger).evaluate(offsets((50, 10)))

    assert to_json(explain(keda_trigger, capped, 1))["metric"] == "20"
    assert (to_json(explain(keda_trigger, negative, 1))["metric"], negative.total_lag) == ("0", -40)


def test_within_tolerance_the_hpa_keeps_the_current_count() -> None:
    keda_trigger = trigger()
    report = LagCalculator(keda_trigger).evaluate(offsets((0, 11), (0, 10)))  # ratio 21 / (10 x 2) = 1.05

    decision = explain(keda_trigger, report, current_replicas=2).decision

    assert (decision.proposal, decision.replicas) == (2, 2)


def test_hpa_limits_come_from_the_spec() -> None:
    keda_trigger = trigger(allowIdleConsumers="true")
    report = LagCalculator(keda_trigger).evaluate(offsets((0, 500)))

    explanation = explain(keda_trigger, report, 1, hpa_spec=HpaSpec(max_replicas=3, target_value=10))

    assert (explanation.decision.proposal, explanation.decision.replicas) == (50, 3)


def test_persistent_partition_is_excluded_but_keeps_the_workload_active() -> None:
    keda_trigger = trigger(excludePersistentLag="true")
    calculator = LagCalculator(keda_trigger)
    calculator.evaluate(offsets((5, 20)))
    report = calculator.evaluate(offsets((5, 20)))

    explanation = explain(keda_trigger, report, current_replicas=1)

    assert partition_status(report.partitions[0]) == "excluded"
    assert to_json(explanation)["total_lag_with_persistent"] == 15
    assert keda_action(explanation).startswith("active (15 > activationLagThreshold 0)")


def test_keda_action_at_zero_replicas_depends_on_activation() -> None:
    keda_trigger = trigger(activationLagThreshold="5")
    quiet = LagCalculator(keda_trigger).evaluate(offsets((0, 5)))
    busy = LagCalculator(keda_trigger).evaluate(offsets((0, 6)))

    assert (
        keda_action(explain(keda_trigger, quiet, 0)) == "inactive (5 <= activationLagThreshold 5): stays at 0"
    )
    assert (
        keda_action(explain(keda_trigger, busy, 0))
        == "active (6 > activationLagThreshold 5): KEDA scales 0 -> 1"
    )


def test_fixes_are_listed() -> None:
    keda_trigger = trigger()
    report = LagCalculator(keda_trigger, Fixes(exact_cap=True)).evaluate(offsets((0, 29), (0, 0)))
    document = to_json(explain(keda_trigger, report, 1, fixes=Fixes(exact_cap=True)))
    assert (document["fixes"], document["metric"], document["capped"]) == (["exact_cap"], "20", True)


def test_table_lists_partitions_and_what_keda_would_do() -> None:
    keda_trigger = trigger()
    report = LagCalculator(keda_trigger).evaluate(offsets((5, 25), (NO_COMMIT, 3), (0, 0)))
    out = io.StringIO()

    render(explain(keda_trigger, report, 1, requests=3), Console(file=out, width=200), max_rows=2)

    text = out.getvalue()
    for expected in ("What KEDA would do", "s0-kafka-orders = 21", "none", "uncommitted", "1 more partitions",
                     "proposal 3", "Kafka requests"):  # fmt: skip
        assert expected in text, expected


def test_tolerance_stall_below_the_partition_count_names_keda_2908_and_its_fix() -> None:
    keda_trigger = trigger(lagThreshold="3000")
    report = LagCalculator(keda_trigger).evaluate(offsets(*[(0, 4000)] * 64))  # capped at 64 x 3000

    stalled = explain(keda_trigger, report, current_replicas=63)
    fixed = explain(keda_trigger, report, 63, fixes=Fixes(reach_partition_count=True))
    out = io.StringIO()
    render(stalled, Console(file=out, width=250), max_rows=1)

    assert (report.metric, stalled.decision.replicas) == (192_000, 63)  # ratio 1.016: inside the band
    assert "tolerance-stalls-below-pinned-replicas" in to_json(stalled)["quirks"]
    assert "keda#2908" in out.getvalue()
    assert "reach_partition_count" in out.getvalue()
    assert fixed.decision.replicas == 64
    assert "tolerance-stalls-below-pinned-replicas" not in fixed.quirks


def test_no_tolerance_stall_when_the_hpa_moves_or_the_metric_is_not_pinned() -> None:
    capped_trigger, free_trigger = (
        trigger(lagThreshold="3000"),
        trigger(lagThreshold="3000", allowIdleConsumers="true"),
    )
    capped = LagCalculator(capped_trigger).evaluate(offsets(*[(0, 4000)] * 64))
    free = LagCalculator(free_trigger).evaluate(offsets(*[(0, 2953)] * 64))  # 189000: ratio 1.0 at 63

    assert "tolerance-stalls-below-pinned-replicas" not in explain(capped_trigger, capped, 40).quirks
    assert "tolerance-stalls-below-pinned-replicas" not in explain(free_trigger, free, 63).quirks


def test_lag_min_replicas_zero_builds_keda_hpa_min_one() -> None:
    options = {"group": "g", "topic": TOPIC, "min_replica_count": 0, "max_replica_count": 7}

    hpa = config_from_options("b:9092", options).hpa

    assert (hpa.min_replicas, hpa.max_replicas) == (1, 7)  # minReplicaCount 0 -> HPA minReplicas 1
