"""KEDA's cross-field checks of the kafka trigger (its Validate()), in KEDA's order.

Validate() stops at its first failure: each check raises a ConfigError with that one problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kafkakit.errors import ConfigError, Problem
from scaler.keda._params import (
    BEARER_PROVIDER,
    MSK_IAM_PROVIDER,
    parse_partition_limitation,
)

if TYPE_CHECKING:
    from scaler.keda.trigger import KafkaTrigger


def _fail(field: str, message: str, keda: str, *mentions: str) -> ConfigError:
    return ConfigError(Problem(field, message, keda, mentions))


@dataclass(frozen=True)
class DeferredText:
    """Raw parameter text that KEDA only interprets inside Validate()."""

    partition_limitation: str = ""
    scopes: str = ""
    oauth_extensions: str = ""


def validate(trigger: KafkaTrigger, deferred: DeferredText) -> KafkaTrigger:
    """Run the cross-field checks; returns the trigger with its derived fields filled in."""
    if trigger.lag_threshold <= 0:
        got = f"must be greater than 0, got {trigger.lag_threshold}"
        raise _fail("lagThreshold", got, '"lagThreshold" must be positive number')
    if trigger.activation_lag_threshold < 0:
        got = f"must be 0 or more, got {trigger.activation_lag_threshold}"
        raise _fail("activationLagThreshold", got, '"activationLagThreshold" must be a non-negative number')
    partitions: tuple[int, ...] = ()
    if deferred.partition_limitation:
        try:
            partitions = tuple(parse_partition_limitation(deferred.partition_limitation))
        except ValueError as error:
            got = f"must list partitions and ranges such as 0,2,4-7, got {deferred.partition_limitation!r}"
            raise _fail("partitionLimitation", got, str(error)) from None
    if not trigger.topic:
        partitions = ()  # KEDA silently drops the limitation when no topic is named
    _check_combinations(trigger)
    _check_tls(trigger)
    scopes, extensions = _check_sasl(trigger, deferred)
    return dataclasses.replace(
        trigger, partition_limitation=partitions, scopes=scopes, oauth_extensions=extensions
    )


def _check_combinations(trigger: KafkaTrigger) -> None:
    limit = trigger.limit_to_partitions_with_lag
    even = trigger.ensure_even_distribution_of_partitions
    if trigger.allow_idle_consumers and limit:
        raise _fail(
            "limitToPartitionsWithLag",
            "cannot be combined with {allowIdleConsumers}: choose one",
            "allowIdleConsumers and limitToPartitionsWithLag cannot be set simultaneously",
            "allowIdleConsumers",
        )
    if not trigger.topic and limit:
        keda = "topic must be specified when using limitToPartitionsWithLag"
        raise _fail("topic", "is required with {limitToPartitionsWithLag}", keda, "limitToPartitionsWithLag")
    if limit and even:
        raise _fail(
            "ensureEvenDistributionOfPartitions",
            "cannot be combined with {limitToPartitionsWithLag}: choose one",
            "limitToPartitionsWithLag and ensureEvenDistributionOfPartitions cannot be set simultaneously",
            "limitToPartitionsWithLag",
        )
    if not trigger.topic and even:
        keda = "topic must be specified when using ensureEvenDistributionOfPartitions"
        even_name = "ensureEvenDistributionOfPartitions"
        raise _fail("topic", f"is required with {{{even_name}}}", keda, even_name)
    if not trigger.topic and not trigger.full_metadata:
        keda = "topic must be specified when fullMetadata is false"
        raise _fail("topic", "is required when {fullMetadata} is false", keda, "fullMetadata")


def _check_tls(trigger: KafkaTrigger) -> None:
    if trigger.tls != "enable":
        return
    if trigger.cert and not trigger.key:
        raise _fail("key", "is required with {cert}", "key must be provided with cert", "cert")
    if trigger.key and not trigger.cert:
        raise _fail("cert", "is required with {key}", "cert must be provided with key", "key")


def _check_sasl(
    trigger: KafkaTrigger, deferred: DeferredText
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Requirements per SASL mode; returns OAuth scopes and extensions when they apply."""
    mode = trigger.sasl
    if mode in ("plaintext", "scram_sha256", "scram_sha512"):
        _require_user_and_password(trigger)
    elif mode == "oauthbearer":
        try:
            return _check_oauth(trigger, deferred)
        except ConfigError as error:
            problem = error.problems[0]
            keda = f"error parsing OAuth token provider configuration: {problem.keda}"
            raise ConfigError(dataclasses.replace(problem, keda=keda)) from None
    elif mode == "gssapi":
        _check_gssapi(trigger)
    return (), ()


def _require_user_and_password(trigger: KafkaTrigger) -> None:
    if not trigger.username:
        raise _fail("username", "is required with {sasl} " + repr(trigger.sasl), "no username given", "sasl")
    if not trigger.password:
        raise _fail("password", "is required with {sasl} " + repr(trigger.sasl), "no password given", "sasl")


def _check_oauth(
    trigger: KafkaTrigger, deferred: DeferredText
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    if trigger.sasl_token_provider == MSK_IAM_PROVIDER:
        if trigger.tls != "enable":
            keda = "TLS is required for AWS MSK authentication"
            raise _fail("tls", "must be enable for AWS MSK authentication", keda)
        if not trigger.aws_region:
            raise _fail("awsRegion", "is required for AWS MSK authentication", "no awsRegion given")
        return (), ()
    if trigger.sasl_token_provider != BEARER_PROVIDER:
        return (), ()  # a value that passed the enum check but names no provider
    _require_user_and_password(trigger)
    if not trigger.oauth_token_endpoint_uri:
        keda = "no oauth token endpoint uri given"
        raise _fail("oauthTokenEndpointUri", "is required with {sasl} oauthbearer", keda, "sasl")
    scopes = tuple(deferred.scopes.split(","))  # not trimmed: KEDA keeps " x" as is
    extensions: list[tuple[str, str]] = []
    if deferred.oauth_extensions:
        for item in deferred.oauth_extensions.split(","):
            pair = item.split("=")
            if len(pair) != 2:
                keda = "invalid OAuthBearer extension, must be of format key=value"
                raise _fail("oauthExtensions", f"must be key=value items, got {item!r}", keda)
            extensions.append((pair[0], pair[1]))
    return scopes, tuple(extensions)


def _check_gssapi(trigger: KafkaTrigger) -> None:
    if not trigger.username:
        raise _fail("username", "is required with {sasl} gssapi", "no username given", "sasl")
    if bool(trigger.password) == bool(trigger.keytab):
        keda = "exactly one of 'password' or 'keytab' must be provided for GSSAPI authentication"
        raise _fail("password", "or {keytab}: give exactly one for GSSAPI", keda, "keytab")
    if not trigger.realm:
        raise _fail("realm", "is required with {sasl} gssapi", "no realm given", "sasl")
    if not trigger.kerberos_config:
        keda = "no Kerberos configuration file (kerberosConfig) given"
        raise _fail("kerberosConfig", "is required with {sasl} gssapi", keda, "sasl")


def aws_credentials_problem(
    trigger: KafkaTrigger,
    metadata: Mapping[str, str],
    auth_params: Mapping[str, str],
    resolved_env: Mapping[str, str],
    *,
    aws_pod_identity: bool,
) -> str | None:
    """MSK IAM needs credentials: pod identity, operator identity, a role, or an access key."""
    if trigger.sasl != "oauthbearer" or trigger.sasl_token_provider != MSK_IAM_PROVIDER:
        return None
    if aws_pod_identity or metadata.get("identityOwner", "").strip() == "operator":
        return None
    if auth_params.get("awsRoleArn", "").strip():
        return None
    access_key = (
        auth_params.get("awsAccessKeyID", "").strip()
        or auth_params.get("awsAccessKeyId", "").strip()
        or metadata.get("awsAccessKeyID", "").strip()
        or _from_env(metadata, resolved_env, "awsAccessKeyIDFromEnv")
    )
    if not access_key:
        return "awsAccessKeyID not found"
    secret = auth_params.get("awsSecretAccessKey", "").strip() or _from_env(
        metadata, resolved_env, "awsSecretAccessKeyFromEnv"
    )
    return None if secret else "awsSecretAccessKey not found"


def _from_env(metadata: Mapping[str, str], resolved_env: Mapping[str, str], key: str) -> str:
    env_name = metadata.get(key, "").strip()
    return resolved_env.get(env_name, "").strip() if env_name else ""
