"""Reading fields of already-loaded Kubernetes YAML, with errors that name the field and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ScaledObjectError(ValueError):
    """The ScaledObject or TriggerAuthentication cannot be used; the message says what to fix."""


def mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScaledObjectError(f"{where} must be a mapping, got {type(raw).__name__}")
    return raw


def text(raw: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(raw, str) or (not allow_empty and not raw.strip()):
        raise ScaledObjectError(f"{where} must be a non-empty string, got {raw!r}")
    return raw


def optional_text(raw: object, where: str) -> str | None:
    return None if raw is None else text(raw, where)


def optional_int(raw: object, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ScaledObjectError(f"{where} must be an integer, got {raw!r}")
    return raw


def integer(mapping: Mapping[str, Any], key: str, default: int | None, prefix: str = "spec") -> int:
    value = optional_int(mapping.get(key), f"{prefix}.{key}")
    if value is None:
        if default is None:
            raise ScaledObjectError(f"{prefix}.{key} is required")
        return default
    return value
