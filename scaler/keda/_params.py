"""KEDA's typed-config reading rules: sources, trimming, and Go-compatible value parsing."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum

from kafkakit.errors import Problem

_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_GO_DECIMAL = re.compile(r"[+-]?[0-9]+")
_KAFKA_VERSION_PRE_1 = re.compile(r"0\.([0-9]+)\.([0-9]+)\.([0-9]+)")
_KAFKA_VERSION = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
BEARER_PROVIDER = "bearer"
MSK_IAM_PROVIDER = "aws_msk_iam"
TOKEN_PROVIDERS = (BEARER_PROVIDER, MSK_IAM_PROVIDER)
_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class Source(Enum):
    """Where a parameter value may come from; the value is KEDA's name in error messages."""

    TM = "triggerMetadata"
    ENV = "resolvedEnv"
    AUTH = "authParams"


TM_ENV = (Source.TM, Source.ENV)
TM_AUTH = (Source.TM, Source.AUTH)
TM = (Source.TM,)
AUTH = (Source.AUTH,)


def go_parse_bool(text: str) -> bool | None:
    """Go strconv.ParseBool; None when the spelling is not one Go accepts."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def json_int64(text: str) -> int | None:
    """Decode a JSON number into int64 as Go's encoding/json does; None when it cannot."""
    if not _JSON_INT.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


def go_parse_int32(text: str) -> int | None:
    """Go strconv.ParseInt(text, 10, 32); None on syntax or range errors."""
    if not _GO_DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if _INT32[0] <= value <= _INT32[1] else None


def parse_kafka_version(text: str) -> tuple[int, int, int, int] | None:
    """sarama.ParseKafkaVersion: `0.a.b.c` before 1.0, else exactly `a.b.c`; None if invalid."""
    if len(text) < 5:
        return None
    if text.startswith("0"):
        pre_one = _KAFKA_VERSION_PRE_1.fullmatch(text)
        if pre_one is None:
            return None
        minor, very_minor, patch = (int(group) for group in pre_one.groups())
        return (0, minor, very_minor, patch)
    modern = _KAFKA_VERSION.fullmatch(text)
    if modern is None:
        return None
    major, minor, very_minor = (int(group) for group in modern.groups())
    return (major, minor, very_minor, 0)


def parse_partition_limitation(text: str) -> list[int]:
    """Expand `1,2,10-20` into partition ids (ranges inclusive, reversed ranges empty)."""
    partitions: list[int] = []
    for raw_item in text.split(","):
        item = raw_item.strip()
        if "-" in item:
            bounds = item.split("-")
            if len(bounds) != 2:
                raise ValueError(f"invalid partition limitation range: {item}")
            start, end = (go_parse_int32(bound.strip()) for bound in bounds)
            if start is None or end is None:
                raise ValueError(f"invalid partition limitation: {item}")
            partitions.extend(range(start, end + 1))
        else:
            value = go_parse_int32(item)
            if value is None:
                raise ValueError(f"invalid partition limitation: {item}")
            partitions.append(value)
    return partitions


class ParamReader:
    """Reads parameters by KEDA's rules and collects every field problem instead of stopping."""

    def __init__(
        self,
        metadata: Mapping[str, str],
        auth_params: Mapping[str, str],
        resolved_env: Mapping[str, str],
    ) -> None:
        self._by_source = {Source.TM: metadata, Source.AUTH: auth_params}
        self._metadata = metadata
        self._resolved_env = resolved_env
        self.problems: list[Problem] = []

    def raw(self, name: str, sources: Sequence[Source]) -> str | None:
        """First trimmed, non-empty value in source order; None means absent everywhere."""
        for source in sources:
            value = self._lookup(name, source)
            if value is not None and value.strip():
                return value.strip()
        return None

    def _lookup(self, name: str, source: Source) -> str | None:
        if source is Source.ENV:
            env_name = self._metadata.get(f"{name}FromEnv", "").strip()
            return self._resolved_env.get(env_name) if env_name else None
        return self._by_source[source].get(name)

    def required(self, name: str, sources: Sequence[Source]) -> str:
        value = self.raw(name, sources)
        if value is None:
            names = " ".join(source.value for source in sources)
            keda = f'missing required parameter "{name}" in [{names}]'
            self.problems.append(Problem(name, "is required", keda))
            return ""
        return value

    def text(self, name: str, sources: Sequence[Source], default: str = "") -> str:
        value = self.raw(name, sources)
        return default if value is None else value

    def boolean(self, name: str, sources: Sequence[Source], default: bool) -> bool:
        value = self.raw(name, sources)
        if value is None:
            return default
        parsed = go_parse_bool(value)
        if parsed is None:
            # KEDA leaves the field at Go's zero value (false), not at the default.
            keda = (
                f'unable to set param "{name}" value "{value}": unable to parse boolean value '
                f'"{value}": strconv.ParseBool: parsing "{value}": invalid syntax'
            )
            self.problems.append(Problem(name, f"must be true or false, got {value!r}", keda))
            return False
        return parsed

    def integer(self, name: str, sources: Sequence[Source], default: int) -> int:
        value = self.raw(name, sources)
        if value is None:
            return default
        parsed = json_int64(value)
        if parsed is None:
            keda = (
                f'unable to set param "{name}" value "{value}": '
                "unable to unmarshal to field type int64: not a JSON integer"
            )
            self.problems.append(Problem(name, f"must be a whole number, got {value!r}", keda))
            return 0
        return parsed

    def enum(self, name: str, sources: Sequence[Source], allowed: Sequence[str], default: str) -> str:
        """Every comma piece must be allowed; the value itself is kept verbatim (KEDA quirk)."""
        value = self.raw(name, sources)
        if value is None:
            return default
        if any(piece.strip() not in allowed for piece in value.split(",")):
            keda = f'parameter "{name}" value "{value}" must be one of [{" ".join(allowed)}]'
            self.problems.append(Problem(name, f"must be one of {', '.join(allowed)}, got {value!r}", keda))
        return value

    def string_list(self, name: str, sources: Sequence[Source]) -> tuple[str, ...]:
        """Split on commas, trim each element, keep empty elements (as KEDA does)."""
        value = self.required(name, sources)
        return tuple(item.strip() for item in value.split(",")) if value else ()
