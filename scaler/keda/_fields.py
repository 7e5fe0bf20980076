"""Reading fields of already-loaded Kubernetes YAML, with errors that name the field and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafkakit.errors import ConfigError, Problem


def field_error(where: str, message: str) -> ConfigError:
    """The ScaledObject (or TriggerAuthentication) field `where` cannot be used: `message` says why."""
    return ConfigError(Problem(where, message))


def mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise field_error(where, f"must be a mapping, got {type(raw).__name__}")
    return raw


def text(raw: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(raw, str) or (not allow_empty and not raw.strip()):
        raise field_error(where, f"must be a non-empty string, got {raw!r}")
    return raw


def optional_text(raw: object, where: str) -> str | None:
    return None if raw is None else text(raw, where)


def optional_int(raw: object, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise field_error(where, f"must be an integer, got {raw!r}")
    return raw


def integer(mapping: Mapping[str, Any], key: str, default: int | None, prefix: str = "spec") -> int:
    value = optional_int(mapping.get(key), f"{prefix}.{key}")
    if value is None:
        if default is None:
            raise field_error(f"{prefix}.{key}", "is required")
        return default
    return value
