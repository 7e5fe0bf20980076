"""Read a real KEDA ScaledObject YAML (plus TriggerAuthentication and Secret YAML) from files.

Any file may hold several documents (`---`); they are sorted by `kind`. Secrets are decoded
(`data` is base64, `stringData` is plain and wins, as the API server merges them) and registered
for redaction. `env` sources of a TriggerAuthentication, and `<param>FromEnv` in trigger metadata,
read this process's environment (in a cluster they would read the scale target's container).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kafkakit.errors import ConfigError, Problem
from kafkakit.secrets import register_secret
from scaler.keda.scaledobject import ScaledObjectDefinition, parse_scaled_object
from scaler.keda.trigger import KafkaTrigger, parse_trigger
from scaler.keda.trigger_auth import AUTH_KINDS, has_aws_pod_identity, resolve_auth_params


def _file_error(path: Path | str, message: str) -> ConfigError:
    return ConfigError(Problem(str(path), message))


@dataclass(frozen=True)
class LoadedScaledObject:
    """The ScaledObject and its one kafka trigger, parsed with its authentication resolved."""

    definition: ScaledObjectDefinition
    trigger: KafkaTrigger
    where: Callable[[str], str]
    """Where a trigger parameter was written in the files (for problems found later)."""


@dataclass
class _Documents:
    scaled_objects: list[Mapping[str, Any]]
    trigger_auths: list[Mapping[str, Any]]
    secrets: dict[str, dict[str, str]]


def read_scaled_object(config: Path) -> ScaledObjectDefinition:
    """The one ScaledObject in `config`, parsed; its trigger metadata stays unparsed (for callers
    that need no connection, such as the simulator)."""
    documents = _Documents([], [], {})
    _sort(documents, config)
    return _only_scaled_object(documents, config)


def _only_scaled_object(documents: _Documents, config: Path) -> ScaledObjectDefinition:
    if len(documents.scaled_objects) != 1:
        found = len(documents.scaled_objects)
        raise _file_error(config, f"expected exactly one ScaledObject, found {found}")
    try:
        return parse_scaled_object(documents.scaled_objects[0])
    except ConfigError as error:
        raise ConfigError(error.problems, title=f"invalid ScaledObject in {config}") from None


def load_scaled_object(
    config: Path,
    trigger_auth_files: Iterable[Path] = (),
    secret_files: Iterable[Path] = (),
    env: Mapping[str, str] | None = None,
) -> LoadedScaledObject:
    """Parse the files; raises ConfigError naming the file, and the field in it, to change."""
    environment = dict(env or {})
    documents = _Documents([], [], {})
    for path in (config, *trigger_auth_files, *secret_files):
        _sort(documents, path)
    definition = _only_scaled_object(documents, config)
    kafka = definition.kafka_triggers()
    if len(kafka) != 1:
        raise _file_error(
            config,
            f"ScaledObject {definition.name} has {len(kafka)} kafka triggers; "
            "lagscale drives one: keep one kafka trigger",
        )
    index, trigger_definition = kafka[0]
    auth_params: dict[str, str] = {}
    aws_pod_identity = False
    if trigger_definition.auth_ref_name is not None:
        auth = _find_auth(documents, trigger_definition.auth_ref_kind, trigger_definition.auth_ref_name)
        auth_params = resolve_auth_params(auth, documents.secrets, environment)
        aws_pod_identity = has_aws_pod_identity(auth)
    where = _trigger_fields(index, trigger_definition.metadata, auth_params, trigger_definition.auth_ref_name)
    try:
        trigger = parse_trigger(
            trigger_definition.metadata,
            auth_params,
            trigger_index=index,
            resolved_env=environment,
            metric_type=trigger_definition.metric_type,
            aws_pod_identity=aws_pod_identity,
        )
    except ConfigError as error:
        raise ConfigError(error.renamed(where).problems, title=f"invalid kafka trigger in {config}") from None
    return LoadedScaledObject(definition, trigger, where)


def _trigger_fields(
    index: int, metadata: Mapping[str, str], auth_params: Mapping[str, str], auth_name: str | None
) -> Callable[[str], str]:
    """A KEDA parameter named where the user wrote it: the trigger's metadata (also for a missing
    one), or its TriggerAuthentication."""

    def where(parameter: str) -> str:
        if parameter == "metricType":
            return f"spec.triggers[{index}].metricType"
        if parameter in auth_params and parameter not in metadata:
            return f"TriggerAuthentication {auth_name} parameter {parameter}"
        return f"spec.triggers[{index}].metadata.{parameter}"

    return where


def _sort(documents: _Documents, path: Path) -> None:
    for document in _read_yaml(path):
        kind = document.get("kind")
        if kind == "ScaledObject":
            documents.scaled_objects.append(document)
        elif kind in AUTH_KINDS:
            documents.trigger_auths.append(document)
        elif kind == "Secret":
            name, values = decode_secret(document, path)
            documents.secrets[name] = values
        # Other kinds (the Deployment, a Namespace) often share the file: not ours to read.


def read_yaml(path: Path, name: str = "") -> list[Any]:
    """Every document of a YAML file; ConfigError naming `name` (default: the path) when the
    file cannot be read, is not text, or is not YAML (with the line and column)."""
    where = name or str(path)
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise ConfigError(Problem(where, f"cannot read it ({error.strerror})")) from None
    except UnicodeDecodeError:
        raise ConfigError(Problem(where, "is not a text file: give a YAML file")) from None
    except yaml.YAMLError as error:
        raise ConfigError(Problem(where, f"is not valid YAML: {_yaml_problem(error)}")) from None
    return [document for document in documents if document is not None]


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())


def _read_yaml(path: Path) -> list[Mapping[str, Any]]:
    documents = read_yaml(path)
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, Mapping):
            raise _file_error(path, f"document {number} is not a mapping (a Kubernetes object)")
    return documents


def decode_secret(document: Mapping[str, Any], path: Path | str = "<secret>") -> tuple[str, dict[str, str]]:
    """(name, {key: value}) of a v1 Secret: `data` base64-decoded, `stringData` on top."""
    name = str((document.get("metadata") or {}).get("name", "")).strip()
    if not name:
        raise _file_error(path, "a Secret has no metadata.name")
    values: dict[str, str] = {}
    for key, encoded in (document.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _file_error(
                path, f"Secret {name} key {key} is not base64 text: put plain values under stringData"
            ) from None
    for key, plain in (document.get("stringData") or {}).items():
        values[str(key)] = str(plain)
    for value in values.values():
        register_secret(value.strip())
    return name, values


def _find_auth(documents: _Documents, kind: str | None, name: str) -> Mapping[str, Any]:
    wanted_kind = kind or AUTH_KINDS[0]
    for document in documents.trigger_auths:
        metadata = document.get("metadata") or {}
        if document.get("kind") == wanted_kind and metadata.get("name") == name:
            return document
    raise ConfigError(
        Problem(
            "--trigger-auth",
            f"the kafka trigger uses {wanted_kind} {name!r}, which is not in the files: pass "
            "--trigger-auth FILE (and --secret FILE for its secretTargetRef)",
        )
    )
