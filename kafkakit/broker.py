"""Checks done before real work: can we reach the cluster, and does the topic exist?

Failures are turned into one clear sentence (unreachable, authentication, TLS) within a timeout,
instead of librdkafka's endless background retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kafkakit.clients import confluent_config
from kafkakit.errors import BrokerError
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact

Client = TypeVar("Client")


@dataclass(frozen=True)
class ConnectHints:
    """What to tell the user to check, in the words of the settings they used (flags or trigger)."""

    credentials: str = "check the username and password (for Event Hubs: the connection string)"
    tls: str = "check --ca-file"
    oauth: str = "check --oauth-token-endpoint, --oauth-client-id and its secret or assertion"
    oauth_refused: str = (
        "its audience, issuer, signing key or lifetime is not what the broker expects: check "
        "--oauth-scope and the audience the identity provider gives this client"
    )
    address: str = (
        "check --bootstrap / KAFKA_EVENTHUB_ENDPOINT, that the broker is up, and that --profile "
        "matches the listener (a TLS or SASL port drops a plaintext client without a word)"
    )


_FATAL = (KafkaError._AUTHENTICATION, KafkaError._SSL)
# Metadata is asked for in short slices so that an authentication or TLS failure, which librdkafka
# would retry quietly until the timeout, is reported as soon as it happens.
_SLICE_S = 0.5


def _explain(bootstrap: str, errors: list[KafkaError], timeout: float, hints: ConnectHints) -> str:
    for error in errors:
        detail = redact(error.str())
        if error.code() == KafkaError._AUTHENTICATION and "OAUTHBEARER token" in detail:
            return f"could not get an OAuth token to connect to {bootstrap}: {hints.oauth} ({detail})"
        if error.code() == KafkaError._AUTHENTICATION and "invalid_token" in detail:
            return f"the broker at {bootstrap} refused the OAuth token: {hints.oauth_refused} ({detail})"
        if error.code() == KafkaError._AUTHENTICATION:
            return f"authentication failed at {bootstrap}: {hints.credentials} ({detail})"
        if error.code() == KafkaError._SSL:
            return f"TLS handshake with {bootstrap} failed: {hints.tls} ({detail})"
    detail = redact(errors[-1].str()) if errors else "no response"
    return f"cannot reach Kafka at {bootstrap} within {timeout:g}s: {hints.address} ({detail})"


def create_client(
    factory: Callable[[dict[str, Any]], Client],
    config: Mapping[str, Any],
    hints: ConnectHints = ConnectHints(),
) -> Client:
    """`factory(config)` (Producer, Consumer, AdminClient), with a configuration librdkafka refuses
    (e.g. a CA file that is not PEM) reported as a one-line BrokerError instead of a traceback."""
    try:
        return factory(dict(config))
    except KafkaException as error:
        cause = error.args[0]
        detail = redact(cause.str() if isinstance(cause, KafkaError) else str(error))
        hint = hints.tls if "ssl" in detail.lower() else "check the connection options"
        raise BrokerError(f"cannot create the Kafka client: {hint} ({detail})", retriable=False) from None


def connect_admin(
    profile: ConnectionProfile,
    timeout: float = 15.0,
    *,
    config: Mapping[str, Any] | None = None,
    hints: ConnectHints = ConnectHints(),
) -> AdminClient:
    """An AdminClient that has fetched metadata once; BrokerError within `timeout` otherwise.
    `config` replaces the profile's client config (e.g. one with PEM material from a trigger)."""
    errors: list[KafkaError] = []
    settings: dict[str, Any] = dict(config) if config is not None else confluent_config(profile, "admin")
    settings["error_cb"] = errors.append
    # Reconnect attempts would otherwise be logged; failures reach us through error_cb.
    settings["log_level"] = 0
    # The existence checks below must never make the broker create a topic.
    settings.setdefault("allow.auto.create.topics", False)
    admin = create_client(AdminClient, settings, hints)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            admin.list_topics(timeout=max(min(_SLICE_S, remaining), 0.01))
            return admin
        except KafkaException as error:
            admin.poll(0)  # error_cb is served from poll(): collect the auth / TLS causes
            fatal = any(e.code() in _FATAL for e in errors)
            if fatal or remaining <= _SLICE_S:
                errors.append(error.args[0])
                message = _explain(profile.bootstrap, errors, timeout, hints)
                raise BrokerError(message, retriable=not fatal) from None


def topic_partitions(admin: AdminClient, topic: str, timeout: float = 10.0) -> int:
    """Partition count of `topic`, or 0 when it does not exist. The metadata request asks for
    auto-creation only if `admin` was built with allow.auto.create.topics (connect_admin: never)."""
    metadata = admin.list_topics(topic=topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return 0
    return len(metadata.partitions)


def ensure_topic(
    admin: AdminClient,
    topic: str,
    *,
    create: bool = False,
    partitions: int = 6,
    timeout: float = 15.0,
) -> int:
    """Make sure `topic` exists; create it only when asked. Returns its partition count."""
    count = topic_partitions(admin, topic, timeout)
    if count:
        return count
    if not create:
        raise BrokerError(
            f"topic {topic!r} does not exist: create it first, or pass --create-topic "
            "(topics are never auto-created silently)"
        )
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=timeout)
    try:
        futures[topic].result(timeout)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise BrokerError(f"could not create topic {topic!r}: {redact(str(error))}") from None
    return topic_partitions(admin, topic, timeout) or partitions
