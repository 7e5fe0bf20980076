"""An AdminClient for the scaler, and librdkafka errors turned into typed, retriable-or-not errors."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from kafkakit.broker import ConnectHints, connect_admin
from kafkakit.secrets import redact
from scaler.errors import OffsetsError
from scaler.kafka.connection import KafkaConnection, admin_config

# Errors after which the same request may well succeed on the next poll.
_TRANSIENT = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._WAIT_COORD,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REQUEST_TIMED_OUT,
}


_TRIGGER_HINTS = ConnectHints(
    credentials="check sasl, username and password",
    tls="check tls, ca and unsafeSsl",
    oauth="check oauthTokenEndpointUri, username (the client id) and password (its secret)",
    oauth_refused=(
        "its audience, issuer, signing key or lifetime is not what the broker expects: check scopes "
        "and the audience the identity provider gives this client"
    ),
    address="check bootstrapServers",
)


def connect(connection: KafkaConnection, timeout: float) -> AdminClient:
    """An AdminClient that has fetched metadata once; kafkakit's BrokerError within `timeout`,
    with hints in the trigger's words."""
    return connect_admin(connection.profile, timeout, config=admin_config(connection), hints=_TRIGGER_HINTS)


def kafka_error_of(error: KafkaException) -> KafkaError:
    """The KafkaError inside a KafkaException (librdkafka always puts one there)."""
    inner = error.args[0] if error.args else None
    return inner if isinstance(inner, KafkaError) else KafkaError(KafkaError._FAIL, str(error))


def is_retriable(error: KafkaError) -> bool:
    return bool(error.retriable()) or error.code() in _TRANSIENT


def offsets_error(context: str, error: KafkaException) -> OffsetsError:
    """`context: <broker's words>`; secrets are redacted from the broker text."""
    inner = kafka_error_of(error)
    return OffsetsError(f"{context}: {redact(inner.str())} ({inner.name()})", retriable=is_retriable(inner))
