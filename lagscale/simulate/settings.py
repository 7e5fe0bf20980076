"""What `lagscale simulate` runs on: the ScalingConfig from a ScaledObject YAML (`--config`) with
the flags on top, or from the flags alone. Only trigger settings that shape scaling matter here:
no broker is reached, so connection and authentication keys are set aside."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kafkakit.errors import ConfigError
from lagscale.simulate.topic import SIMULATED_TOPIC
from scaler.cli.options import TRIGGER_FLAGS, as_flag, hpa_controller_from
from scaler.cli.settings import spec_from_options, trigger_metadata
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import Fixes
from scaler.keda.trigger import KafkaTrigger, TriggerError, parse_trigger
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Mode
from scaler.scaledobject_files import read_scaled_object

SIMULATED_GROUP = "simulated-consumers"
# Trigger metadata that shapes scaling; connection and auth keys do not matter without a broker.
SCALING_KEYS = ("topic", *(flag.key for flag in TRIGGER_FLAGS))


def simulated_trigger(metadata: Mapping[str, str], metric_type: str = "AverageValue") -> KafkaTrigger:
    """Parse trigger metadata with KEDA's own rules, keeping only what shapes scaling."""
    kept = {key: value for key, value in metadata.items() if key in SCALING_KEYS}
    kept.setdefault("topic", SIMULATED_TOPIC)
    kept.update(bootstrapServers="simulated:9092", consumerGroup=SIMULATED_GROUP)
    return parse_trigger(kept, metric_type=metric_type)


def config_from_options(options: Mapping[str, Any], *, mode: Mode, fixes: Fixes) -> ScalingConfig:
    """--config's ScaledObject (when given), then the trigger flags, `--metadata KEY=VALUE` items
    and ScaledObject flags on top. A problem names the flag, the --metadata key or the file field."""
    path: Path | None = options["config"]
    metadata: dict[str, str] = {}
    metric_type, index = "AverageValue", 0
    spec = ScaledObjectSpec()
    definition = None
    if path is not None:
        definition = read_scaled_object(path)
        index, trigger_definition = definition.kafka_triggers()[0]
        metadata, metric_type = dict(trigger_definition.metadata), trigger_definition.metric_type
        spec = definition.spec
    extra = metadata_items(options["extra_metadata"])
    flags = {key: value for key, value in trigger_metadata("", options).items() if key in SCALING_KEYS}
    flags.pop("topic", None)
    metadata.update(extra)
    metadata.update(flags)
    in_file = _in_file(path, index)
    try:
        trigger = simulated_trigger(metadata, metric_type)
    except ConfigError as error:
        raise error.renamed(_named(flags, extra, in_file)) from None
    spec = spec_from_options(options, spec, rename=lambda key: in_file(key, spec_field=True))
    controller = hpa_controller_from(options)
    if definition is None:
        return ScalingConfig(trigger, spec, mode=mode, fixes=fixes, controller=controller)
    config = ScalingConfig.from_scaled_object(
        definition, trigger, mode=mode, fixes=fixes, controller=controller
    )
    return dataclasses.replace(config, spec=spec)


def metadata_items(items: tuple[str, ...]) -> dict[str, str]:
    """`--metadata KEY=VALUE` items as trigger metadata."""
    metadata: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--metadata {item!r}: write KEY=VALUE, e.g. allowIdleConsumers=true")
        metadata[key.strip()] = value
    return metadata


def _in_file(path: Path | None, index: int) -> Callable[..., str]:
    def where(key: str, *, spec_field: bool = False) -> str:
        if path is None:
            return as_flag(key)
        inside = f"spec.{key}" if spec_field else f"spec.triggers[{index}].metadata.{key}"
        return f"{path}: {inside}"

    return where


def _named(
    flags: Mapping[str, str], extra: Mapping[str, str], in_file: Callable[..., str]
) -> Callable[[str], str]:
    def name(key: str) -> str:
        if key in flags:
            return as_flag(key)
        if key in extra:
            return f"--metadata {key}"
        return in_file(key)

    return name


class _RecordingMetadata(Mapping[str, str]):
    """Trigger metadata that records every key KEDA's parser looks up."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = dict(items)
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


# Parses that between them take every path through KEDA's reader: each key and its `...FromEnv`
# variant (nothing given), and the MSK IAM credential keys.
_PROBES: tuple[dict[str, str], ...] = (
    {},
    {
        "bootstrapServers": "probe:9092",
        "consumerGroup": "probe",
        "sasl": "oauthbearer",
        "saslTokenProvider": "aws_msk_iam",
        "tls": "enable",
        "awsRegion": "probe",
        "awsAccessKeyID": "probe",
    },
)


@functools.cache
def keda_metadata_keys() -> frozenset[str]:
    """Every trigger-metadata key KEDA's kafka scaler reads, learnt from the parser itself."""
    keys: set[str] = set()
    for probe in _PROBES:
        metadata = _RecordingMetadata(probe)
        with contextlib.suppress(TriggerError):
            parse_trigger(metadata)
        keys |= metadata.looked_up
    return frozenset(keys)


def unknown_metadata_warnings(metadata: Mapping[str, str]) -> list[str]:
    """One line per key KEDA's kafka trigger does not know (KEDA ignores those silently)."""
    known = keda_metadata_keys()
    warnings = []
    for key in metadata:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(
                f"warning: --metadata {key}: not a kafka trigger parameter, KEDA ignores it{hint}"
            )
    return warnings
