"""`lagscale lag`: read a consumer group's offsets and explain what KEDA would do with them.

The trigger settings go through KEDA's own parser (scaler.keda.trigger), so a flag that KEDA would
reject is rejected here, every problem listed, each named by its flag (or its field in --config).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from kafkakit.cli_options import command, connection_options, legacy_envvars, option
from kafkakit.errors import BrokerError
from kafkakit.signals import run_in_background
from scaler.cli.options import (
    CURRENT_REPLICAS,
    FIXES,
    JSON,
    REPLICA_BOUNDS,
    TIMEOUT,
    config_file_options,
    fixes_from,
    scaled_object_options,
    trigger_options,
)
from scaler.cli.settings import Settings, settings_from_options
from scaler.explain import Explanation, explain, render, to_json
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.lag import NO_COMMIT, LagCalculator, PartitionOffsets
from scaler.keda.trigger import KafkaTrigger

__all__ = ["lag"]


@legacy_envvars("LAGSCALE_LAG")
@command("lag")
@config_file_options()
@connection_options
@trigger_options()
@scaled_object_options(REPLICA_BOUNDS)
@FIXES()
@CURRENT_REPLICAS(
    default=1, show_default=True, help="Replicas the workload runs now (input of the HPA proposal)."
)
@JSON(help="Machine output (one JSON object per evaluation).")
@option("--watch", type=click.FloatRange(min=0.1), default=None, help="Re-evaluate every N seconds.")
@option("--rows", type=click.IntRange(min=0), default=50, show_default=True, help="Table rows; 0 = all.")
@TIMEOUT()
def lag(
    *,
    fixes_text: str,
    current_replicas: int,
    as_json: bool,
    watch: float | None,
    rows: int,
    timeout: float,
    **flags: Any,
) -> None:
    """Show a consumer group's lag per partition and what KEDA and the HPA would do with it."""
    settings = settings_from_options(flags, fixes=fixes_from(fixes_text))
    evaluate = _evaluator(settings, current_replicas, timeout)
    console = Console()
    while True:
        try:
            explanation = run_in_background(lambda _stop: evaluate())
        except BrokerError as error:
            if watch is None or not error.retriable:
                raise
            click.echo(f"error (retrying in {watch:g}s): {error}", err=True)
        else:
            if explanation is None:  # SIGTERM during the evaluation
                return
            _show(explanation, as_json=as_json, rows=rows, console=console, clear=watch is not None)
        if watch is None:
            return
        time.sleep(watch)  # the refresh interval asked for; Ctrl+C ends it (exit status 130)


def _evaluator(settings: Settings, current_replicas: int, timeout: float) -> Callable[[], Explanation]:
    """One source and one calculator for the whole run, so excludePersistentLag sees history."""
    config = settings.config
    trigger, fixes = config.trigger, config.fixes
    source = KafkaOffsetSource(
        settings.connection, OffsetQuery.for_trigger(trigger, fixes, explain=True), timeout=timeout
    )
    calculator = LagCalculator(trigger, fixes)

    def evaluate() -> Explanation:
        offsets = source.fetch()
        _warn_about_commits(trigger, offsets)
        return explain(
            trigger,
            calculator.evaluate(offsets),
            current_replicas,
            hpa_spec=config.hpa,
            fixes=fixes,
            requests=source.requests_last_evaluation,
        )

    return evaluate


def _show(
    explanation: Explanation, *, as_json: bool, rows: int, console: Console, clear: bool = False
) -> None:
    if as_json:
        click.echo(json.dumps(to_json(explanation), sort_keys=True))
        return
    if clear:
        console.clear()
    render(explanation, console, rows)


def _warn_about_commits(trigger: KafkaTrigger, offsets: list[PartitionOffsets]) -> None:
    """Say so when the group has no commits: KEDA still reports a number, which often surprises."""
    if offsets and all(entry.committed == NO_COMMIT for entry in offsets):
        where = (
            f"topic {trigger.topic!r}"
            if trigger.topic
            else "any topic (KEDA then sums EVERY topic, keda#8104)"
        )
        click.echo(f"warning: group {trigger.consumer_group!r} has no committed offsets on {where}", err=True)
