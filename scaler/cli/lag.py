"""`lagscale lag`: read a consumer group's offsets and explain what KEDA would do with them.

The trigger settings go through KEDA's own parser (scaler.keda.trigger), so a flag that KEDA would
reject is rejected here with KEDA's words, every problem listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from kafkakit.cli_options import connection_options, profile_from_options
from scaler.cli.scale import scale
from scaler.cli.settings import (
    REPLICA_BOUNDS,
    check_config_flags,
    config_file_options,
    load_config,
    scaled_object_options,
    spec_from_flags,
    trigger_metadata,
    trigger_options,
    usage_error,
)
from scaler.errors import ConnectionSettingsError, OffsetsError
from scaler.explain import Explanation, explain, render, to_json
from scaler.kafka.connection import KafkaConnection
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.fixes import Fixes, FixesError, parse_fixes
from scaler.keda.hpa import HpaSpec
from scaler.keda.lag import NO_COMMIT, LagCalculator, PartitionOffsets
from scaler.keda.scaledobject import hpa_spec_for
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger

__all__ = ["lag", "scale"]


@dataclass(frozen=True)
class LagSettings:
    """What one `lag` run evaluates: the trigger, how to reach its cluster, the HPA it feeds."""

    trigger: KafkaTrigger
    connection: KafkaConnection
    hpa: HpaSpec


def settings_from_flags(options: dict[str, Any]) -> LagSettings:
    """The HPA KEDA would build from --min-replicas / --max-replicas (minReplicaCount / max)."""
    profile = profile_from_options(options)
    problems: list[str] = []
    trigger: KafkaTrigger | None = None
    try:
        trigger = parse_trigger(trigger_metadata(profile.bootstrap, options))
    except TriggerError as error:
        problems.extend(error.problems)
    spec, spec_problems = spec_from_flags(options)
    problems.extend(spec_problems)
    if problems or trigger is None:
        raise usage_error("invalid settings", problems)
    hpa = hpa_spec_for(spec, trigger.metric_type, trigger.lag_threshold)
    return LagSettings(trigger, KafkaConnection(profile), hpa)


def settings_from_config(
    config: Path, trigger_auth: tuple[Path, ...], secrets: tuple[Path, ...]
) -> LagSettings:
    loaded, connection = load_config(config, trigger_auth, secrets)
    return LagSettings(loaded.trigger, connection, loaded.definition.hpa)


@click.command()
@config_file_options("LAGSCALE_LAG")
@connection_options
@trigger_options("LAGSCALE_LAG")
@scaled_object_options("LAGSCALE_LAG", REPLICA_BOUNDS)
@click.option("--fixes", "fixes_text", default="", help="Opt-in KEDA quirk fixes: comma list or 'all'.")
@click.option(
    "--current-replicas",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Replicas the workload runs now (input of the HPA proposal).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine output (one JSON object per evaluation).")
@click.option("--watch", type=click.FloatRange(min=0.1), default=None, help="Re-evaluate every N seconds.")
@click.option(
    "--rows", type=click.IntRange(min=0), default=50, show_default=True, help="Table rows; 0 = all."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.5), default=10.0, show_default=True, help="Broker timeout."
)
def lag(
    *,
    config: Path | None,
    trigger_auth: tuple[Path, ...],
    secret: tuple[Path, ...],
    fixes_text: str,
    current_replicas: int,
    as_json: bool,
    watch: float | None,
    rows: int,
    timeout: float,
    **options: Any,
) -> None:
    """Show a consumer group's lag per partition and what KEDA and the HPA would do with it."""
    check_config_flags(config, trigger_auth, secret)
    if config is None:
        settings = settings_from_flags(options)
    else:
        settings = settings_from_config(config, trigger_auth, secret)
    try:
        fixes = parse_fixes(fixes_text)
    except FixesError as error:
        raise click.UsageError(str(error)) from None
    _run(_evaluator(settings, fixes, current_replicas, timeout), as_json=as_json, watch=watch, rows=rows)


def _evaluator(
    settings: LagSettings, fixes: Fixes, current_replicas: int, timeout: float
) -> Callable[[], Explanation]:
    """One source and one calculator for the whole run, so excludePersistentLag sees history."""
    trigger = settings.trigger
    query = OffsetQuery.for_trigger(trigger, fixes, explain=True)
    source = KafkaOffsetSource(settings.connection, query, timeout=timeout)
    calculator = LagCalculator(trigger, fixes)

    def evaluate() -> Explanation:
        offsets = source.fetch()
        _warn_about_commits(trigger, offsets)
        return explain(
            trigger,
            calculator.evaluate(offsets),
            current_replicas,
            hpa_spec=settings.hpa,
            fixes=fixes,
            requests=source.requests_last_evaluation,
        )

    return evaluate


def _run(evaluate: Callable[[], Explanation], *, as_json: bool, watch: float | None, rows: int) -> None:
    console = Console()
    while True:
        try:
            explanation = evaluate()
        except (OffsetsError, ConnectionSettingsError) as error:
            retriable = getattr(error, "retriable", False)
            if watch is None or not retriable:
                raise click.ClickException(str(error)) from None
            click.echo(f"error (retrying in {watch:g}s): {error}", err=True)
        else:
            if as_json:
                click.echo(json.dumps(to_json(explanation), sort_keys=True))
            else:
                if watch is not None:
                    console.clear()
                render(explanation, console, rows)
        if watch is None:
            return
        try:
            time.sleep(watch)  # the refresh interval the user asked for
        except KeyboardInterrupt:
            return


def _warn_about_commits(trigger: KafkaTrigger, offsets: list[PartitionOffsets]) -> None:
    """Say so when the group has no commits: KEDA still reports a number, which often surprises."""
    if offsets and all(entry.committed == NO_COMMIT for entry in offsets):
        where = (
            f"topic {trigger.topic!r}"
            if trigger.topic
            else "any topic (KEDA then sums EVERY topic, keda#8104)"
        )
        click.echo(f"warning: group {trigger.consumer_group!r} has no committed offsets on {where}", err=True)
