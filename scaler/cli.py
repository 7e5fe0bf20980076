"""`lagscale lag`: read a consumer group's offsets and explain what KEDA would do with them.

The trigger settings go through KEDA's own parser (scaler.keda.trigger), so a flag that KEDA would
reject is rejected here with KEDA's words, every problem listed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from kafkakit import envvars
from kafkakit.cli_options import connection_options, profile_from_options
from scaler.cli_scale import scale
from scaler.config_file import load_scaled_object
from scaler.errors import ConnectionSettingsError, OffsetsError
from scaler.explain import Explanation, explain, render, to_json
from scaler.kafka import KafkaOffsetSource, OffsetQuery
from scaler.kafka_auth import KafkaConnection, connection_from_trigger
from scaler.keda.fixes import Fixes, FixesError, parse_fixes
from scaler.keda.hpa import HpaSpec
from scaler.keda.lag import NO_COMMIT, LagCalculator, PartitionOffsets
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger

__all__ = ["lag", "scale"]

# click parameter -> KEDA metadata key; passed as text so KEDA's own parsing rules apply.
_TRIGGER_TEXT = {
    "lag_threshold": "lagThreshold",
    "activation_lag_threshold": "activationLagThreshold",
    "offset_reset_policy": "offsetResetPolicy",
    "partition_limitation": "partitionLimitation",
}
_TRIGGER_FLAGS = {
    "allow_idle_consumers": "allowIdleConsumers",
    "exclude_persistent_lag": "excludePersistentLag",
    "scale_to_zero_on_invalid_offset": "scaleToZeroOnInvalidOffset",
    "limit_to_partitions_with_lag": "limitToPartitionsWithLag",
    "ensure_even_distribution": "ensureEvenDistributionOfPartitions",
}


def trigger_metadata(
    bootstrap: str, group: str | None, topic: str | None, options: dict[str, Any]
) -> dict[str, str]:
    """The ScaledObject trigger `metadata` the flags stand for (unset flags keep KEDA's defaults)."""
    metadata = {"bootstrapServers": bootstrap, "consumerGroup": group or "", "topic": topic or ""}
    for name, key in _TRIGGER_TEXT.items():
        if options.get(name) is not None:
            metadata[key] = str(options[name])
    for name, key in _TRIGGER_FLAGS.items():
        if options.get(name):
            metadata[key] = "true"
    return metadata


def _problems(title: str, problems: list[str]) -> click.UsageError:
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return click.UsageError(f"{title}:\n{listed}")


@dataclass(frozen=True)
class LagSettings:
    """What one `lag` run evaluates: the trigger, how to reach its cluster, the HPA it feeds."""

    trigger: KafkaTrigger
    connection: KafkaConnection
    hpa: HpaSpec


def settings_from_flags(
    options: dict[str, Any], min_replicas: int | None, max_replicas: int | None
) -> LagSettings:
    profile = profile_from_options(options)
    metadata = trigger_metadata(profile.bootstrap, options.pop("group"), options.pop("topic"), options)
    try:
        trigger = parse_trigger(metadata)
    except TriggerError as error:
        raise _problems("invalid trigger settings", error.problems) from None
    return LagSettings(trigger, KafkaConnection(profile), _hpa(trigger, min_replicas, max_replicas))


def settings_from_config(
    config: Path, trigger_auth: tuple[Path, ...], secrets: tuple[Path, ...], options: dict[str, Any]
) -> LagSettings:
    context = click.get_current_context()
    typed = [name for name in options if context.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if typed:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in typed)
        raise click.UsageError(f"{flags} cannot be combined with --config: edit the YAML instead")
    try:
        loaded = load_scaled_object(config, trigger_auth, secrets, env=os.environ)
        connection = connection_from_trigger(loaded.trigger)
    except TriggerError as error:
        raise _problems(f"invalid kafka trigger in {config}", error.problems) from None
    except (ValueError, ConnectionSettingsError) as error:
        raise click.UsageError(str(error)) from None
    return LagSettings(loaded.trigger, connection, loaded.definition.hpa)


def _hpa(trigger: KafkaTrigger, min_replicas: int | None, max_replicas: int | None) -> HpaSpec:
    try:
        return HpaSpec(
            min_replicas=1 if min_replicas is None else min_replicas,
            max_replicas=100 if max_replicas is None else max_replicas,
            target_type=trigger.metric_type,
            target_value=trigger.lag_threshold,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None


@click.command()
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A KEDA ScaledObject YAML instead of the trigger and connection flags.",
)
@click.option(
    "--trigger-auth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="TriggerAuthentication YAML (repeatable; with --config).",
)
@click.option(
    "--secret",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Secret YAML (repeatable; with --config).",
)
@connection_options
@click.option("--group", envvar=envvars.CONSUMER_GROUP, default="", help="Consumer group (consumerGroup).")
@click.option(
    "--topic", envvar=envvars.TOPIC, default="", help="Topic; empty = every topic the group committed."
)
@click.option("--lag-threshold", default=None, help="lagThreshold (default 10).")
@click.option("--activation-lag-threshold", default=None, help="activationLagThreshold (default 0).")
@click.option("--offset-reset-policy", default=None, help="offsetResetPolicy: latest (default) or earliest.")
@click.option("--partition-limitation", default=None, help="partitionLimitation, e.g. 0,2,4-7.")
@click.option("--allow-idle-consumers", is_flag=True, help="allowIdleConsumers=true.")
@click.option("--exclude-persistent-lag", is_flag=True, help="excludePersistentLag=true (needs --watch).")
@click.option("--scale-to-zero-on-invalid-offset", is_flag=True, help="scaleToZeroOnInvalidOffset=true.")
@click.option("--limit-to-partitions-with-lag", is_flag=True, help="limitToPartitionsWithLag=true.")
@click.option("--ensure-even-distribution", is_flag=True, help="ensureEvenDistributionOfPartitions=true.")
@click.option("--min-replicas", type=click.IntRange(min=0), default=None, help="HPA min (default 1).")
@click.option("--max-replicas", type=click.IntRange(min=1), default=None, help="HPA max (default 100).")
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
    min_replicas: int | None,
    max_replicas: int | None,
    fixes_text: str,
    current_replicas: int,
    as_json: bool,
    watch: float | None,
    rows: int,
    timeout: float,
    **options: Any,
) -> None:
    """Show a consumer group's lag per partition and what KEDA and the HPA would do with it."""
    if config is None and (trigger_auth or secret):
        raise click.UsageError("--trigger-auth and --secret only make sense with --config")
    if config is None:
        settings = settings_from_flags(options, min_replicas, max_replicas)
    else:
        replicas = {"min_replicas": min_replicas, "max_replicas": max_replicas}
        settings = settings_from_config(config, trigger_auth, secret, {**options, **replicas})
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
