"""Why KEDA would scale: a LagReport and the HPA's proposal, as a rich table or stable JSON.

The JSON `metric` is the External metric exactly as KEDA emits it (a milli-precision Kubernetes
quantity in canonical form, e.g. "29", "2500m", "29k"), so it can be compared with what the
metrics API serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import Fixes
from scaler.keda.hpa import Hpa, HpaDecision, HpaSpec
from scaler.keda.lag import NO_COMMIT, LagReport, PartitionLag
from scaler.keda.scaledobject import hpa_spec_for
from scaler.keda.trigger import KafkaTrigger

TOLERANCE_STALL = "tolerance-stalls-below-pinned-replicas"
_SUFFIXES = {-3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}

QUIRK_TEXT = {
    "cap-off-by-one": "KEDA caps only once lag // threshold > upper, so up to (upper+1)*threshold-1 passes",
    "uncommitted-latest-counts-1": "uncommitted partitions count 1 under offsetResetPolicy latest",
    "earliest-counts-deleted-records": "uncommitted partitions count the log end (deleted records too)",
    "negative-partition-lag-not-clamped": "a committed offset ahead of the log end subtracts from the total",
    "negative-total-emitted-as-zero": "a negative total is emitted as 0",
    "partition-absent-from-log-end-skipped": "partitions absent from log-end answers are skipped",
    "even-distribution-zero-lag-is-one-threshold": "with even distribution, zero lag reads one threshold",
    "allow-idle-ignored-with-even-distribution": "allowIdleConsumers does not lift the even-distribution cap",
    "unmatched-offset-reset-policy": "offsetResetPolicy matches no policy, so -1 is used as an offset",
    "fix:exact-cap": "fix exact_cap: capped as soon as lag > upper * threshold",
    "fix:earliest-from-log-start": "fix earliest_from_log_start: uncommitted count latest - log start",
    TOLERANCE_STALL: "keda#2908: the HPA's tolerance keeps current replicas although the capped metric "
    "stands for more; the reach_partition_count fix removes it",
}


def milli_quantity(milli: int) -> str:
    """A milli-value in Kubernetes' canonical DecimalSI form (what resource.Quantity.String() gives)."""
    if milli <= 0:
        return "0"
    mantissa, exponent = milli, -3
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # The exponent is lowered to a multiple of 3 (at most E); the mantissa absorbs the rest.
    engineering = min(exponent - exponent % 3, 18)
    return f"{mantissa * 10 ** (exponent - engineering)}{_SUFFIXES[engineering]}"


@dataclass(frozen=True)
class Explanation:
    """One evaluation, explained: the lag report, what the HPA would do, and the context."""

    trigger: KafkaTrigger
    report: LagReport
    hpa_spec: HpaSpec
    decision: HpaDecision
    current_replicas: int
    fixes: Fixes = field(default_factory=Fixes)
    requests: int | None = None
    quirks: tuple[str, ...] = ()
    """The report's quirks, then the HPA's (keda#2908)."""


def explain(
    trigger: KafkaTrigger,
    report: LagReport,
    current_replicas: int,
    *,
    hpa_spec: HpaSpec | None = None,
    fixes: Fixes | None = None,
    requests: int | None = None,
) -> Explanation:
    """Run one HPA sync on the report's metric (fresh HPA: no stabilisation history)."""
    chosen_fixes = fixes or Fixes()
    spec = hpa_spec or hpa_spec_for(ScaledObjectSpec(), trigger)
    decision = Hpa(spec, chosen_fixes).evaluate(
        report.metric, current_replicas, now=0.0, pinned_replicas=report.pinned_replicas
    )
    quirks = (*report.quirks, *_hpa_quirks(report, spec, decision, current_replicas))
    return Explanation(trigger, report, spec, decision, current_replicas, chosen_fixes, requests, quirks)


def _hpa_quirks(report: LagReport, spec: HpaSpec, decision: HpaDecision, current: int) -> list[str]:
    """keda#2908: the metric was pinned to N replicas (cap or even distribution), the HPA would
    propose ceil(M/T) = N outside its dead band, yet it keeps `current` < N (<= max) inside it."""
    pinned = report.pinned_replicas
    stalled = (
        spec.target_type == "AverageValue"
        and pinned is not None
        and 0 < current == decision.proposal < pinned <= spec.max_replicas
    )
    return [TOLERANCE_STALL] if stalled else []


def partition_status(row: PartitionLag) -> str:
    """counted / excluded / skipped: how the partition entered the metric."""
    if row.latest is None:
        return "skipped"
    if row.lag == 0 and row.lag_with_persistent != 0:
        return "excluded"
    return "counted"


def keda_action(explanation: Explanation) -> str:
    """What KEDA itself (not the HPA) does with the activity."""
    report, trigger = explanation.report, explanation.trigger
    comparison = f"{report.total_lag_with_persistent} {'>' if report.active else '<='} "
    comparison += f"activationLagThreshold {trigger.activation_lag_threshold}"
    if explanation.current_replicas == 0:
        target = max(explanation.hpa_spec.min_replicas, 1)
        verdict = f"KEDA scales 0 -> {target}" if report.active else "stays at 0"
        return f"{'active' if report.active else 'inactive'} ({comparison}): {verdict}"
    if report.active:
        return f"active ({comparison}): the HPA sizes the workload"
    return f"inactive ({comparison}): scaled to minReplicaCount after cooldownPeriod if that is 0"


def to_json(explanation: Explanation) -> dict[str, Any]:
    """Stable machine-readable form (keys never renamed; new keys may be added)."""
    report, trigger, decision, spec = (
        explanation.report,
        explanation.trigger,
        explanation.decision,
        explanation.hpa_spec,
    )
    return {
        "metric_name": trigger.metric_name,
        "metric": milli_quantity(report.metric * 1000),
        "metric_milli": report.metric * 1000,
        "metric_value": report.metric,
        "consumer_group": trigger.consumer_group,
        "topic": trigger.topic,
        "lag_threshold": trigger.lag_threshold,
        "activation_lag_threshold": trigger.activation_lag_threshold,
        "total_lag": report.total_lag,
        "total_lag_with_persistent": report.total_lag_with_persistent,
        "partitions_with_lag": report.partitions_with_lag,
        "partition_count": report.partition_count,
        "active": report.active,
        "capped": report.capped,
        "cap_upper": report.cap_upper,
        "pinned_replicas": report.pinned_replicas,
        "quirks": list(explanation.quirks),
        "fixes": list(explanation.fixes.enabled),
        "hpa": {
            "current_replicas": explanation.current_replicas,
            "proposal": decision.proposal,
            "replicas": decision.replicas,
            "reason": decision.reason,
            "target_type": spec.target_type,
            "target_value": spec.target_value,
            "min_replicas": spec.min_replicas,
            "max_replicas": spec.max_replicas,
            "tolerance": spec.tolerance,
        },
        "keda": keda_action(explanation),
        "requests": explanation.requests,
        "partitions": [_partition_json(row) for row in report.partitions],
    }


def _partition_json(row: PartitionLag) -> dict[str, Any]:
    return {
        "topic": row.topic,
        "partition": row.partition,
        "committed": row.committed,
        "log_end": row.latest,
        "lag": row.lag,
        "lag_with_persistent": row.lag_with_persistent,
        "status": partition_status(row),
        "reason": row.reason,
    }


def render(explanation: Explanation, console: Console, max_rows: int = 50) -> None:
    """The per-partition table, then the totals and what KEDA and the HPA would do."""
    console.print(_partition_table(explanation.report, max_rows))
    hidden = len(explanation.report.partitions) - max_rows
    if max_rows and hidden > 0:
        console.print(f"[dim]... {hidden} more partitions (--rows 0 shows all)[/dim]")
    console.print(_summary_table(explanation))


def _partition_table(report: LagReport, max_rows: int) -> Table:
    table = Table(title="Partitions", title_justify="left")
    for name in ("topic", "partition", "committed", "log end", "lag", "status", "why"):
        table.add_column(
            name, justify="right" if name in ("partition", "committed", "log end", "lag") else "left"
        )
    rows = report.partitions[:max_rows] if max_rows else report.partitions
    for row in rows:
        committed = "none" if row.committed == NO_COMMIT else str(row.committed)
        latest = "-" if row.latest is None else str(row.latest)
        status = partition_status(row)
        style = {"counted": "", "excluded": "yellow", "skipped": "dim"}[status]
        lag = str(row.lag) if row.lag == row.lag_with_persistent else f"{row.lag} ({row.lag_with_persistent})"
        table.add_row(row.topic, str(row.partition), committed, latest, lag, status, row.reason, style=style)
    return table


def _summary_table(explanation: Explanation) -> Table:
    report, trigger, decision = explanation.report, explanation.trigger, explanation.decision
    table = Table(title="What KEDA would do", title_justify="left", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    table.add_row("total lag", f"{report.total_lag} (with persistent: {report.total_lag_with_persistent})")
    table.add_row("partitions", f"{report.partition_count} ({report.partitions_with_lag} with lag)")
    table.add_row("metric", f"{trigger.metric_name} = {milli_quantity(report.metric * 1000)}")
    table.add_row("activity", keda_action(explanation))
    table.add_row("cap", _cap_text(report, trigger.lag_threshold))
    for quirk in explanation.quirks:
        table.add_row("quirk", f"{quirk}: {QUIRK_TEXT.get(quirk, '')}".rstrip(": "))
    table.add_row(
        "HPA",
        f"current {explanation.current_replicas} -> proposal {decision.proposal}, sets {decision.replicas} "
        f"({decision.reason})",
    )
    if explanation.fixes.enabled:
        table.add_row("fixes", ", ".join(explanation.fixes.enabled))
    if explanation.requests is not None:
        table.add_row("Kafka requests", str(explanation.requests))
    return table


def _cap_text(report: LagReport, threshold: int) -> str:
    if report.cap_upper is None:
        return "none (allowIdleConsumers)"
    if report.capped:
        return f"applied: {report.cap_upper} x {threshold} = {report.metric}"
    return f"not applied (upper {report.cap_upper} partitions, limit {report.cap_upper * threshold})"
