"""The settings of `lagscale scale`, from a ScaledObject YAML (`--config`) or from plain flags.

Either way every problem is found before anything connects, and listed together (exit status 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from kafkakit.cli_options import profile_from_options
from scaler.cli.settings import (
    check_config_flags,
    load_config,
    spec_from_flags,
    trigger_metadata,
    usage_error,
)
from scaler.kafka.connection import KafkaConnection
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.hpa import HpaSpec
from scaler.keda.pause import Pause
from scaler.keda.scaledobject import hpa_spec_for
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger


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
    pause: Pause = field(default_factory=Pause)
    created_at: datetime | None = None


def _from_config(config: Path, trigger_auth: tuple[Path, ...], secret: tuple[Path, ...]) -> ScaleSettings:
    loaded, connection = load_config(config, trigger_auth, secret)
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
        pause=definition.pause,
        created_at=definition.created_at,
    )


def _from_flags(options: dict[str, Any]) -> ScaleSettings:
    """Connection, trigger and scaling flags are all checked first, so one run lists every problem."""
    problems: list[str] = []
    try:
        profile = profile_from_options(options)
    except click.UsageError as error:
        problems.append(error.message)
        profile = None
    metadata = trigger_metadata(profile.bootstrap if profile is not None else "", options)
    trigger: KafkaTrigger | None = None
    try:
        trigger = parse_trigger(metadata)
    except TriggerError as error:
        problems.extend(error.problems)
    spec, spec_problems = spec_from_flags(options)
    problems.extend(spec_problems)
    if problems or trigger is None or profile is None:
        raise usage_error("invalid settings", problems)
    return ScaleSettings(
        name=f"{trigger.consumer_group}-{trigger.topic or 'topics'}",
        trigger=trigger,
        connection=KafkaConnection(profile),
        spec=spec,
        hpa=hpa_spec_for(spec, trigger.metric_type, trigger.lag_threshold),
    )


def settings_from_options(options: dict[str, Any]) -> ScaleSettings:
    """Pops the settings options from `options` (what is left is for the target and the loop)."""
    config: Path | None = options.pop("config")
    trigger_auth: tuple[Path, ...] = options.pop("trigger_auth")
    secret: tuple[Path, ...] = options.pop("secret")
    check_config_flags(config, trigger_auth, secret)
    if config is None:
        return _from_flags(options)
    return _from_config(config, trigger_auth, secret)
