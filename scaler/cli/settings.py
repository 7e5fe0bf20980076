"""What `lagscale lag` and `lagscale scale` share: the trigger and ScaledObject flags, `--config`
loading, and usage errors that list every problem.

Trigger flags become KEDA trigger metadata *text*, so KEDA's own parser (scaler.keda.trigger)
judges them, in KEDA's words. Every flag can also come from an environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from kafkakit import envvars
from kafkakit.cli_options import connection_options
from scaler.errors import ConnectionSettingsError
from scaler.kafka.connection import KafkaConnection, connection_from_trigger
from scaler.keda.executor import Fallback, ScaledObjectSpec, ScaledObjectSpecError
from scaler.keda.trigger import TriggerError
from scaler.scaledobject_files import LoadedScaledObject, load_scaled_object

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _MetadataFlag:
    """A flag that stands for one trigger metadata key."""

    param: str
    key: str
    help: str
    boolean: bool = False
    spellings: tuple[str, ...] = ()


_METADATA_FLAGS = (
    _MetadataFlag("lag_threshold", "lagThreshold", "lagThreshold (default 10)."),
    _MetadataFlag(
        "activation_lag_threshold", "activationLagThreshold", "activationLagThreshold (default 0)."
    ),
    _MetadataFlag(
        "offset_reset_policy", "offsetResetPolicy", "offsetResetPolicy: latest (default) or earliest."
    ),
    _MetadataFlag("partition_limitation", "partitionLimitation", "partitionLimitation, e.g. 0,2,4-7."),
    _MetadataFlag("allow_idle_consumers", "allowIdleConsumers", "allowIdleConsumers=true.", True),
    _MetadataFlag(
        "exclude_persistent_lag",
        "excludePersistentLag",
        "excludePersistentLag=true (it compares successive evaluations).",
        True,
    ),
    _MetadataFlag(
        "scale_to_zero_on_invalid_offset",
        "scaleToZeroOnInvalidOffset",
        "scaleToZeroOnInvalidOffset=true.",
        True,
    ),
    _MetadataFlag(
        "limit_to_partitions_with_lag", "limitToPartitionsWithLag", "limitToPartitionsWithLag=true.", True
    ),
    _MetadataFlag(
        "ensure_even_distribution_of_partitions",
        "ensureEvenDistributionOfPartitions",
        "ensureEvenDistributionOfPartitions=true.",
        True,
        ("--ensure-even-distribution-of-partitions", "--ensure-even-distribution"),
    ),
)

# ScaledObject fields (not trigger metadata): parameter -> help.
_SPEC_FLAGS = {
    "polling_interval": "pollingInterval seconds (default 30).",
    "cooldown_period": "cooldownPeriod seconds (default 300).",
    "initial_cooldown_period": "initialCooldownPeriod seconds (default 0).",
    "min_replicas": "minReplicaCount (default 0; the HPA's minimum is then 1).",
    "max_replicas": "maxReplicaCount (default 100).",
    "idle_replicas": "idleReplicaCount (default unset; needs --min-replicas).",
    "fallback_failure_threshold": "fallback.failureThreshold (with --fallback-replicas).",
    "fallback_replicas": "fallback.replicas (with --fallback-failure-threshold).",
}
REPLICA_BOUNDS = ("min_replicas", "max_replicas")


def _decorate(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def config_file_options(envvar_prefix: str) -> Callable[[F], F]:
    """--config, --trigger-auth, --secret (`<prefix>_CONFIG`, ...; several paths joined by `:`)."""
    existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
    return _decorate(
        [
            click.option(
                "--config",
                envvar=f"{envvar_prefix}_CONFIG",
                type=existing_file,
                default=None,
                help="A KEDA ScaledObject YAML (may also hold its TriggerAuthentication and Secret), "
                "instead of the connection, trigger and ScaledObject flags.",
            ),
            click.option(
                "--trigger-auth",
                envvar=f"{envvar_prefix}_TRIGGER_AUTH",
                type=existing_file,
                multiple=True,
                help="TriggerAuthentication YAML file (repeatable; with --config).",
            ),
            click.option(
                "--secret",
                envvar=f"{envvar_prefix}_SECRET",
                type=existing_file,
                multiple=True,
                help="Kubernetes Secret YAML file, data base64 or stringData (repeatable; with --config).",
            ),
        ]
    )


def trigger_options(envvar_prefix: str) -> Callable[[F], F]:
    """--group, --topic (the tutorial's env vars) and the trigger flags (`<prefix>_<PARAM>`)."""
    options = [
        click.option("--group", envvar=envvars.CONSUMER_GROUP, default="", help="consumerGroup."),
        click.option(
            "--topic",
            envvar=envvars.TOPIC,
            default="",
            help="topic; empty = every topic the group committed.",
        ),
    ]
    for flag in _METADATA_FLAGS:
        spellings = flag.spellings or (f"--{flag.param.replace('_', '-')}",)
        options.append(
            click.option(
                *spellings,
                flag.param,
                envvar=f"{envvar_prefix}_{flag.param.upper()}",
                is_flag=flag.boolean,
                default=False if flag.boolean else None,
                help=flag.help,
            )
        )
    return _decorate(options)


def scaled_object_options(envvar_prefix: str, params: Iterable[str] = tuple(_SPEC_FLAGS)) -> Callable[[F], F]:
    """Integer ScaledObject flags (`<prefix>_<PARAM>`); unset ones keep KEDA's defaults."""
    return _decorate(
        [
            click.option(
                f"--{param.replace('_', '-')}",
                envvar=f"{envvar_prefix}_{param.upper()}",
                type=int,
                default=None,
                help=_SPEC_FLAGS[param],
            )
            for param in params
        ]
    )


def trigger_metadata(bootstrap: str, options: Mapping[str, Any]) -> dict[str, str]:
    """The ScaledObject trigger `metadata` the flags stand for (unset flags keep KEDA's defaults)."""
    metadata = {
        "bootstrapServers": bootstrap,
        "consumerGroup": options.get("group") or "",
        "topic": options.get("topic") or "",
    }
    for flag in _METADATA_FLAGS:
        value = options.get(flag.param)
        if flag.boolean and value:
            metadata[flag.key] = "true"
        elif not flag.boolean and value is not None:
            metadata[flag.key] = str(value)
    return metadata


def spec_from_flags(options: Mapping[str, Any]) -> tuple[ScaledObjectSpec, list[str]]:
    """The ScaledObject fields the flags give, and every problem with them (KEDA's checks)."""
    defaults = ScaledObjectSpec()

    def given(param: str, default: int) -> int:
        value = options.get(param)
        return default if value is None else int(value)

    problems: list[str] = []
    threshold, replicas = options.get("fallback_failure_threshold"), options.get("fallback_replicas")
    fallback = None
    if (threshold is None) != (replicas is None):
        problems.append("--fallback-failure-threshold and --fallback-replicas go together: give both")
    elif threshold is not None and replicas is not None:
        fallback = Fallback(failure_threshold=threshold, replicas=replicas)
    spec = ScaledObjectSpec(
        polling_interval=given("polling_interval", defaults.polling_interval),
        cooldown_period=given("cooldown_period", defaults.cooldown_period),
        initial_cooldown_period=given("initial_cooldown_period", defaults.initial_cooldown_period),
        min_replica_count=given("min_replicas", defaults.min_replica_count),
        max_replica_count=given("max_replicas", defaults.max_replica_count),
        idle_replica_count=options.get("idle_replicas"),
        fallback=fallback,
        min_replica_count_set=options.get("min_replicas") is not None,
    )
    try:
        spec.validate()
    except ScaledObjectSpecError as error:
        problems.extend(error.problems)
    return spec, problems


def usage_error(title: str, problems: list[str]) -> click.UsageError:
    """One usage error (exit status 2) listing every problem."""
    listed = "\n".join(f"  - {problem}" for problem in problems)
    return click.UsageError(f"{title}:\n{listed}")


def _param_names(decorator: Callable[[Callable[..., None]], Callable[..., None]]) -> tuple[str, ...]:
    """The parameters a click decorator adds, read from a throwaway command so no list drifts."""
    return tuple(param.name for param in click.command()(decorator(lambda **_: None)).params if param.name)


# Everything --config says instead: the connection, the trigger and the ScaledObject fields.
SETTING_PARAMS = (
    *_param_names(connection_options),
    *_param_names(trigger_options("_")),
    *_SPEC_FLAGS,
)


def check_config_flags(
    config: Path | None, trigger_auth: tuple[Path, ...], secrets: tuple[Path, ...]
) -> None:
    """With --config, a typed setting flag is an error; without it, the auth files make no sense.

    Only what was typed counts: env vars such as KAFKA_EVENTHUB_TOPIC may be set for the consumer.
    """
    if config is None:
        if trigger_auth or secrets:
            raise click.UsageError("--trigger-auth and --secret only make sense with --config")
        return
    context = click.get_current_context()
    typed = [
        param.opts[0]
        for param in context.command.params
        if param.name in SETTING_PARAMS
        and context.get_parameter_source(param.name) == ParameterSource.COMMANDLINE
    ]
    if typed:
        raise click.UsageError(f"{', '.join(typed)} cannot be combined with --config: edit the YAML instead")


def load_config(
    config: Path, trigger_auth: tuple[Path, ...], secrets: tuple[Path, ...]
) -> tuple[LoadedScaledObject, KafkaConnection]:
    """The ScaledObject files, parsed, and how to reach the trigger's cluster; UsageError if not."""
    try:
        loaded = load_scaled_object(config, trigger_auth, secrets, env=os.environ)
        return loaded, connection_from_trigger(loaded.trigger)
    except TriggerError as error:
        raise usage_error(f"invalid kafka trigger in {config}", error.problems) from None
    except (ValueError, ConnectionSettingsError) as error:
        raise click.UsageError(str(error)) from None
