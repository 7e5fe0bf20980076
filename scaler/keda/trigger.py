"""The `kafka` trigger of a ScaledObject: its parameters, parsed and validated exactly as KEDA does."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from kafkakit.errors import ConfigError, Problem
from scaler.keda._params import (
    AUTH,
    BEARER_PROVIDER,
    TM,
    TM_AUTH,
    TM_ENV,
    TOKEN_PROVIDERS,
    ParamReader,
    parse_kafka_version,
    parse_partition_limitation,
)
from scaler.keda._validate import DeferredText, aws_credentials_problem, validate

__all__ = [
    "KafkaTrigger",
    "TriggerError",
    "parse_kafka_version",
    "parse_partition_limitation",
    "parse_trigger",
]

OFFSET_RESET_POLICIES = ("latest", "earliest")
SASL_MODES = ("none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer", "gssapi")
TLS_MODES = ("enable", "disable")
_SECRET_FIELDS = frozenset({"password", "key", "key_password", "keytab", "oauth_extensions"})
_METRIC_NAME_UNSAFE = re.compile(r"[/.:%()]")


class TriggerError(ConfigError):
    """The trigger metadata is invalid: every problem in KEDA's order, each naming its parameter.
    `str()` is KEDA's own message (what its scaler would log); `problems` hold our words too."""

    def __init__(self, problems: list[Problem], prefix: str = "error parsing kafka metadata: ") -> None:
        super().__init__(problems, title="invalid kafka trigger")
        self.keda_message = prefix + "\n".join(self.keda_problems)

    def __str__(self) -> str:
        return self.keda_message


@dataclass(frozen=True, repr=False)
class KafkaTrigger:
    """A parsed `kafka` trigger; field names are KEDA's parameter names in snake_case."""

    bootstrap_servers: tuple[str, ...]
    consumer_group: str
    topic: str = ""
    partition_limitation: tuple[int, ...] = ()
    lag_threshold: int = 10
    activation_lag_threshold: int = 0
    offset_reset_policy: str = "latest"
    allow_idle_consumers: bool = False
    exclude_persistent_lag: bool = False
    scale_to_zero_on_invalid_offset: bool = False
    limit_to_partitions_with_lag: bool = False
    ensure_even_distribution_of_partitions: bool = False
    full_metadata: bool = True
    version: str = "1.0.0"
    sasl: str = "none"
    tls: str = "disable"
    unsafe_ssl: bool = False
    username: str = ""
    password: str = ""
    ca: str = ""
    cert: str = ""
    key: str = ""
    key_password: str = ""
    sasl_token_provider: str = BEARER_PROVIDER
    oauth_token_endpoint_uri: str = ""
    scopes: tuple[str, ...] = ()
    oauth_extensions: tuple[tuple[str, str], ...] = ()
    aws_region: str = ""
    realm: str = ""
    kerberos_config: str = ""
    kerberos_service_name: str = "kafka"
    keytab: str = ""
    kerberos_disable_fast: bool = False
    metric_type: str = "AverageValue"
    trigger_index: int = 0

    @property
    def metric_name(self) -> str:
        """KEDA's External metric name, e.g. `s0-kafka-my-topic` or `s0-kafka-group-topics`."""
        base = f"kafka-{self.topic}" if self.topic else f"kafka-{self.consumer_group}-topics"
        return f"s{self.trigger_index}-{_METRIC_NAME_UNSAFE.sub('-', base)}"

    @property
    def version_tuple(self) -> tuple[int, int, int, int]:
        """The Kafka version as (major, minor, veryMinor, patch), sarama style."""
        parsed = parse_kafka_version(self.version)
        if parsed is None:
            raise ValueError(f"invalid version `{self.version}`")
        return parsed

    def __repr__(self) -> str:
        # Secrets are masked so a trigger can be logged safely.
        parts = []
        for field in fields(self):
            value = getattr(self, field.name)
            shown = "'***'" if field.name in _SECRET_FIELDS and value else repr(value)
            parts.append(f"{field.name}={shown}")
        return f"KafkaTrigger({', '.join(parts)})"


def _check_metric_type(metric_type: str) -> str:
    if metric_type in ("", "AverageValue"):
        return "AverageValue"
    if metric_type == "Value":
        return metric_type
    if metric_type == "Utilization":
        keda = (
            "'Utilization' metric type is unsupported for external metrics, "
            "allowed values are 'Value' or 'AverageValue'"
        )
    else:
        keda = f"metricType {metric_type!r} is not one of 'AverageValue' or 'Value'"
    problem = Problem("metricType", f"must be AverageValue or Value, got {metric_type!r}", keda)
    raise TriggerError([problem], prefix="error getting scaler metric type: ")


def _read_fields(reader: ParamReader) -> tuple[KafkaTrigger, DeferredText]:
    """Every field in KEDA's struct order; problems accumulate in the reader."""
    trigger = KafkaTrigger(
        bootstrap_servers=reader.string_list("bootstrapServers", TM_ENV),
        consumer_group=reader.required("consumerGroup", TM_ENV),
        topic=reader.text("topic", TM_ENV),
        lag_threshold=reader.integer("lagThreshold", TM, 10),
        activation_lag_threshold=reader.integer("activationLagThreshold", TM, 0),
        offset_reset_policy=reader.enum("offsetResetPolicy", TM, OFFSET_RESET_POLICIES, "latest"),
        allow_idle_consumers=reader.boolean("allowIdleConsumers", TM, False),
        exclude_persistent_lag=reader.boolean("excludePersistentLag", TM, False),
        scale_to_zero_on_invalid_offset=reader.boolean("scaleToZeroOnInvalidOffset", TM, False),
        limit_to_partitions_with_lag=reader.boolean("limitToPartitionsWithLag", TM, False),
        ensure_even_distribution_of_partitions=reader.boolean(
            "ensureEvenDistributionOfPartitions", TM, False
        ),
        full_metadata=reader.boolean("fullMetadata", TM, True),
        version=reader.text("version", TM, "1.0.0"),
        tls=reader.enum("tls", TM_AUTH, TLS_MODES, "disable"),
        unsafe_ssl=reader.boolean("unsafeSsl", TM, False),
        ca=reader.text("ca", AUTH),
        cert=reader.text("cert", AUTH),
        key=reader.text("key", AUTH),
        key_password=reader.text("keyPassword", AUTH),
        sasl=reader.enum("sasl", TM_AUTH, SASL_MODES, "none"),
        username=reader.text("username", AUTH),
        password=reader.text("password", AUTH),
        sasl_token_provider=reader.enum("saslTokenProvider", TM_AUTH, TOKEN_PROVIDERS, BEARER_PROVIDER),
        oauth_token_endpoint_uri=reader.text("oauthTokenEndpointUri", AUTH),
        keytab=reader.text("keytab", AUTH),
        realm=reader.text("realm", AUTH),
        kerberos_config=reader.text("kerberosConfig", AUTH),
        kerberos_service_name=reader.text("kerberosServiceName", AUTH, "kafka"),
        kerberos_disable_fast=reader.boolean("kerberosDisableFAST", AUTH, False),
        aws_region=reader.text("awsRegion", TM),
    )
    deferred = DeferredText(
        partition_limitation=reader.text("partitionLimitation", TM),
        scopes=reader.text("scopes", AUTH),
        oauth_extensions=reader.text("oauthExtensions", AUTH),
    )
    return trigger, deferred


def parse_trigger(
    metadata: Mapping[str, str],
    auth_params: Mapping[str, str] | None = None,
    trigger_index: int = 0,
    resolved_env: Mapping[str, str] | None = None,
    metric_type: str = "AverageValue",
    *,
    aws_pod_identity: bool = False,
) -> KafkaTrigger:
    """Parse a `kafka` trigger exactly as KEDA does; raises TriggerError listing what to change.

    `aws_pod_identity` says the TriggerAuthentication has `podIdentity.provider: aws`, which
    satisfies the MSK IAM credential requirement.
    """
    checked_metric_type = _check_metric_type(metric_type)
    auth = auth_params or {}
    env = resolved_env or {}
    reader = ParamReader(metadata, auth, env)
    trigger, deferred = _read_fields(reader)
    problems = reader.problems
    try:  # cross-field checks run even after field errors, and stop at their first failure
        trigger = validate(trigger, deferred)
    except ConfigError as failure:
        problems.extend(failure.problems)
    if problems:
        raise TriggerError(problems)
    if parse_kafka_version(trigger.version) is None:
        keda = f"error parsing kafka version: invalid version `{trigger.version}`"
        got = f"must be a Kafka version such as 2.8.0, got {trigger.version!r}"
        raise TriggerError([Problem("version", got, keda)])
    aws_problem = aws_credentials_problem(trigger, metadata, auth, env, aws_pod_identity=aws_pod_identity)
    if aws_problem:
        missing = aws_problem.split()[0]  # "awsAccessKeyID not found"
        keda = f"error getting AWS authorization: {aws_problem}"
        raise TriggerError([Problem(missing, "is required for AWS MSK authentication", keda)])
    return dataclasses.replace(trigger, metric_type=checked_metric_type, trigger_index=trigger_index)
