"""The settings of `lagscale scale`, from a ScaledObject YAML (`--config`) or from plain flags.

Either way every problem is found before anything connects, and listed together (exit status 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from kafkakit.cli_options import profile_from_options
from scaler.config_file import load_scaled_object
from scaler.errors import ConnectionSettingsError
from scaler.kafka_auth import KafkaConnection, connection_from_trigger
from scaler.keda.executor import ScaledObjectSpec, ScaledObjectSpecError
from scaler.keda.hpa import HpaSpec
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger

# Flags that describe the ScaledObject; with --config the file says all of this.
_PLAIN_FLAGS = (
    "group",
    "topic",
    "lag_threshold",
    "activation_lag_threshold",
    "offset_reset_policy",
    "polling_interval",
    "cooldown_period",
    "min_replicas",
    "max_replicas",
    "idle_replicas",
)


@dataclass(frozen=True)
class ScaleSettings:
    """Everything the loop needs, whichever way it was given."""

    name: str
    trigger: KafkaTrigger
    connection: KafkaConnection
    spec: ScaledObjectSpec
    hpa: HpaSpec
    use_cached_metrics: bool = False
    target_kind: str = "Deployment"
    target_name: str = ""
    namespace: str = "default"


def _problems_error(title: str, problems: list[str]) -> click.UsageError:
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return click.UsageError(f"{title}:\n{listed}")


def _from_config(config: Path, trigger_auth: tuple[Path, ...], secret: tuple[Path, ...]) -> ScaleSettings:
    try:
        loaded = load_scaled_object(config, trigger_auth, secret, env=os.environ)
        connection = connection_from_trigger(loaded.trigger)
    except TriggerError as error:
        raise _problems_error(f"invalid kafka trigger in {config}", error.problems) from None
    except (ValueError, ConnectionSettingsError) as error:
        raise click.UsageError(str(error)) from None
    definition = loaded.definition
    return ScaleSettings(
        name=definition.name,
        trigger=loaded.trigger,
        connection=connection,
        spec=definition.spec,
        hpa=definition.hpa,
        use_cached_metrics=loaded.use_cached_metrics,
        target_kind=definition.target_kind,
        target_name=definition.target_name,
        namespace=definition.namespace,
    )


def _from_flags(options: dict[str, Any]) -> ScaleSettings:
    """Connection, trigger and scaling flags are all checked first, so one run lists every problem."""
    from scaler.cli import trigger_metadata  # noqa: PLC0415 (scaler.cli imports this module)

    problems: list[str] = []
    try:
        profile = profile_from_options(options)
    except click.UsageError as error:
        problems.append(error.message)
        profile = None
    bootstrap = profile.bootstrap if profile is not None else ""
    metadata = trigger_metadata(bootstrap, options["group"] or "", options["topic"] or "", options)
    trigger: KafkaTrigger | None = None
    try:
        trigger = parse_trigger(metadata)
    except TriggerError as error:
        problems.extend(error.problems)
    spec = ScaledObjectSpec(
        polling_interval=_or(options["polling_interval"], 30),
        cooldown_period=_or(options["cooldown_period"], 300),
        min_replica_count=_or(options["min_replicas"], 0),
        max_replica_count=_or(options["max_replicas"], 100),
        idle_replica_count=options["idle_replicas"],
    )
    try:
        spec.validate()
    except ScaledObjectSpecError as error:
        problems.extend(error.problems)
    if problems or trigger is None or profile is None:
        raise _problems_error("invalid settings", problems)
    hpa = HpaSpec(
        min_replicas=max(spec.min_replica_count, 1),
        max_replicas=spec.max_replica_count,
        target_type=trigger.metric_type,
        target_value=trigger.lag_threshold,
    )
    return ScaleSettings(
        name=f"{trigger.consumer_group}-{trigger.topic or 'topics'}",
        trigger=trigger,
        connection=KafkaConnection(profile),
        spec=spec,
        hpa=hpa,
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def settings_from_options(options: dict[str, Any]) -> ScaleSettings:
    """Pops the settings options from `options` (what is left is for the target and the loop)."""
    config: Path | None = options.pop("config")
    trigger_auth: tuple[Path, ...] = options.pop("trigger_auth")
    secret: tuple[Path, ...] = options.pop("secret")
    if config is None:
        if trigger_auth or secret:
            raise click.UsageError("--trigger-auth and --secret only make sense with --config")
        return _from_flags(options)
    # Only what was typed counts: env vars such as KAFKA_EVENTHUB_TOPIC may be set for the consumer.
    context = click.get_current_context()
    given = [
        f"--{name.replace('_', '-')}"
        for name in _PLAIN_FLAGS
        if context.get_parameter_source(name) == ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)} cannot be combined with --config: edit the YAML instead")
    return _from_config(config, trigger_auth, secret)
