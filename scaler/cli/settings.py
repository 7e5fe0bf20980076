"""From command-line options to what `lagscale lag` and `lagscale scale` run on: a ScalingConfig
and the connection to its cluster, read either from a real ScaledObject YAML (`--config`, with
`--trigger-auth` and `--secret` files) or from plain flags. Either way every problem is found
before anything connects, each named as the user wrote it (a flag, or a field of the file)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from kafkakit.cli_options import connection_options, profile_from_options
from kafkakit.errors import ConfigError, Problem
from scaler.cli.options import SPEC_FLAGS, TRIGGER_FLAGS, as_flag
from scaler.kafka.connection import KafkaConnection, connection_from_trigger
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.fixes import Fixes
from scaler.keda.hpa import DEFAULT_CONTROLLER, HpaController
from scaler.keda.trigger import parse_trigger
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Mode
from scaler.scaledobject_files import load_scaled_object

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """A ScalingConfig plus what the command line adds: how to reach the cluster, and the
    ScaledObject's name, target and creation time when it came from a file."""

    name: str
    config: ScalingConfig
    connection: KafkaConnection
    target_kind: str = "Deployment"
    target_name: str = ""
    namespace: str = "default"
    created_at: datetime | None = None


def trigger_metadata(bootstrap: str, options: Mapping[str, Any]) -> dict[str, str]:
    """The ScaledObject trigger `metadata` the flags stand for (unset flags keep KEDA's defaults)."""
    metadata = {
        "bootstrapServers": bootstrap,
        "consumerGroup": options.get("group") or "",
        "topic": options.get("topic") or "",
    }
    for flag in TRIGGER_FLAGS:
        value = options.get(_param(flag.name))
        if value is True:
            metadata[flag.key] = "true"
        elif value is not None and value is not False:
            metadata[flag.key] = str(value)
    return metadata


def spec_from_options(
    options: Mapping[str, Any],
    base: ScaledObjectSpec | None = None,
    rename: Callable[[str], str] = as_flag,
) -> ScaledObjectSpec:
    """`base` (KEDA's defaults unless given) with the ScaledObject fields the flags set, checked by
    KEDA's rules; a problem names the flag, or what `rename` makes of the field (e.g. its place in a
    file) when no flag set it."""
    start = base or ScaledObjectSpec()
    given = {flag.key: options.get(_param(flag.name)) for flag in SPEC_FLAGS}
    threshold, replicas = given["fallback.failureThreshold"], given["fallback.replicas"]
    if (threshold is None) != (replicas is None):
        message = "goes with {fallback.replicas}: give both or neither"
        problem = Problem("fallback.failureThreshold", message, mentions=("fallback.replicas",))
        raise ConfigError(problem.renamed(as_flag))
    spec = dataclasses.replace(
        start,
        polling_interval=_or(given["pollingInterval"], start.polling_interval),
        cooldown_period=_or(given["cooldownPeriod"], start.cooldown_period),
        initial_cooldown_period=_or(given["initialCooldownPeriod"], start.initial_cooldown_period),
        min_replica_count=_or(given["minReplicaCount"], start.min_replica_count),
        max_replica_count=_or(given["maxReplicaCount"], start.max_replica_count),
        idle_replica_count=_or(given["idleReplicaCount"], start.idle_replica_count),
        fallback=start.fallback if threshold is None or replicas is None else Fallback(threshold, replicas),
        min_replica_count_set=start.min_replica_count_set or given["minReplicaCount"] is not None,
    )
    set_by_flag = {key for key, value in given.items() if value is not None}
    try:
        return spec.validate()
    except ConfigError as error:
        raise error.renamed(lambda key: as_flag(key) if key in set_by_flag else rename(key)) from None


def config_from_options(
    bootstrap: str,
    options: Mapping[str, Any],
    *,
    mode: Mode = "keda",
    fixes: Fixes | None = None,
    controller: HpaController = DEFAULT_CONTROLLER,
) -> ScalingConfig:
    """The trigger and ScaledObject the flags describe; every problem of both at once, as flags."""
    problems: list[Problem] = []
    spec = ScaledObjectSpec()
    try:
        trigger = parse_trigger(trigger_metadata(bootstrap, options))
    except ConfigError as error:
        problems.extend(error.renamed(as_flag).problems)
    try:
        spec = spec_from_options(options)
    except ConfigError as error:
        problems.extend(error.problems)
    if problems:
        raise ConfigError(problems, title="invalid settings")
    return ScalingConfig(trigger, spec, controller=controller, mode=mode, fixes=fixes or Fixes())


def settings_from_options(
    options: dict[str, Any],
    *,
    mode: Mode = "keda",
    fixes: Fixes | None = None,
    controller: HpaController = DEFAULT_CONTROLLER,
) -> Settings:
    """Pops the settings options from `options` (what is left is for the target and the loop).
    `controller`: the cluster's HPA controller settings, which no ScaledObject holds."""
    config: Path | None = options.pop("config")
    trigger_auth: tuple[Path, ...] = options.pop("trigger_auth")
    secret: tuple[Path, ...] = options.pop("secret")
    check_config_flags(config, trigger_auth, secret)
    if config is not None:
        return _from_file(
            config, trigger_auth, secret, mode=mode, fixes=fixes or Fixes(), controller=controller
        )
    problems: list[Problem] = []
    profile = None
    try:
        profile = profile_from_options(options)
    except ConfigError as error:
        problems.extend(error.problems)
    try:
        bootstrap = profile.bootstrap if profile is not None else ""
        scaling = config_from_options(bootstrap, options, mode=mode, fixes=fixes, controller=controller)
    except ConfigError as error:
        # A bad connection is already reported above, in the words of the connection options.
        said = profile is None
        problems.extend(p for p in error.problems if not (said and p.field == "--bootstrap"))
    if problems or profile is None:
        raise ConfigError(problems, title="invalid settings")
    trigger = scaling.trigger
    return Settings(
        f"{trigger.consumer_group}-{trigger.topic or 'topics'}", scaling, KafkaConnection(profile)
    )


def _from_file(
    config: Path,
    trigger_auth: tuple[Path, ...],
    secrets: tuple[Path, ...],
    *,
    mode: Mode,
    fixes: Fixes,
    controller: HpaController,
) -> Settings:
    loaded = load_scaled_object(config, trigger_auth, secrets, env=os.environ)
    definition = loaded.definition
    try:
        connection = connection_from_trigger(loaded.trigger)
    except ConfigError as error:
        title = f"invalid kafka trigger in {config}"
        raise ConfigError(error.renamed(loaded.where).problems, title=title) from None
    return Settings(
        name=definition.name,
        config=ScalingConfig.from_scaled_object(
            definition, loaded.trigger, mode=mode, fixes=fixes, controller=controller
        ),
        connection=connection,
        target_kind=definition.target_kind,
        target_name=definition.target_name,
        namespace=definition.namespace,
        created_at=definition.created_at,
    )


def _setting_params(context: click.Context) -> list[click.Parameter]:
    """The options --config replaces: the connection, the trigger and the ScaledObject fields."""
    replaced = {_param(flag.name) for flag in (*TRIGGER_FLAGS, *SPEC_FLAGS)} | {"group", "topic"}
    replaced |= {param.name for param in click.command()(connection_options(lambda **_: None)).params}
    return [param for param in context.command.params if param.name in replaced]


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
        for param in _setting_params(context)
        if param.name and context.get_parameter_source(param.name) == ParameterSource.COMMANDLINE
    ]
    if typed:
        raise click.UsageError(f"{', '.join(typed)} cannot be combined with --config: edit the YAML instead")


def _param(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _or(value: int | None, default: T) -> int | T:
    return default if value is None else value
