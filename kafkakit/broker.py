"""Checks done before real work: can we reach the cluster, and does the topic exist?

Failures are turned into one clear sentence (unreachable, authentication, TLS) within a timeout,
instead of librdkafka's endless background retries.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from kafkakit.clients import confluent_config
from kafkakit.profiles import ConnectionProfile
from kafkakit.secrets import redact


class BrokerError(RuntimeError):
    """The cluster cannot be used as configured; the message says what to change."""


def _explain(profile: ConnectionProfile, errors: list[KafkaError], timeout: float) -> str:
    codes = {error.code() for error in errors}
    detail = redact(errors[-1].str()) if errors else "no response"
    if KafkaError._AUTHENTICATION in codes:
        hint = "check the username and password (for Event Hubs: the connection string)"
        return f"authentication failed at {profile.bootstrap}: {hint} ({detail})"
    if KafkaError._SSL in codes:
        return f"TLS handshake with {profile.bootstrap} failed: check --ca-file ({detail})"
    return (
        f"cannot reach Kafka at {profile.bootstrap} within {timeout:g}s: check --bootstrap / "
        f"KAFKA_EVENTHUB_ENDPOINT and that the broker is up ({detail})"
    )


def connect_admin(profile: ConnectionProfile, timeout: float = 15.0) -> AdminClient:
    """An AdminClient that has proven it can fetch metadata; raises BrokerError otherwise."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = confluent_config(profile, "admin")
    config["error_cb"] = errors.append
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as error:
        errors.append(error.args[0])
        raise BrokerError(_explain(profile, errors, timeout)) from None
    return admin


def topic_partitions(admin: AdminClient, topic: str, timeout: float = 10.0) -> int:
    """Partition count of `topic`, or 0 when it does not exist."""
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
