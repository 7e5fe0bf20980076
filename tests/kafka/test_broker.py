"""Proves every listener of the local broker (scripts/kafka) with a real client round trip."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

pytestmark = pytest.mark.kafka

ClientConfig = dict[str, Any]
WaitUntil = Callable[[Callable[[], bool], float, str], None]
ROUND_TRIP_TIMEOUT_S = 30.0


def plaintext(kafka: KafkaEndpoints) -> ClientConfig:
    return {"bootstrap.servers": kafka.bootstrap}


def sasl_plaintext(kafka: KafkaEndpoints, mechanism: str) -> ClientConfig:
    return {
        "bootstrap.servers": kafka.bootstrap_sasl,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": kafka.sasl_username,
        "sasl.password": kafka.sasl_password,
    }


def eventhubs(kafka: KafkaEndpoints, connection_string: str | None = None) -> ClientConfig:
    """Exactly what an Azure Event Hubs client sends, pointed at the local SASL_SSL listener."""
    return {
        "bootstrap.servers": kafka.bootstrap_ssl,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "$ConnectionString",
        "sasl.password": connection_string or kafka.eventhubs_connection_string,
        "ssl.ca.location": kafka.ca_file,
        "ssl.endpoint.identification.algorithm": "https",
        "enable.ssl.certificate.verification": True,
    }


LISTENERS: dict[str, Callable[[KafkaEndpoints], ClientConfig]] = {
    "plaintext": plaintext,
    "sasl-plain": lambda kafka: sasl_plaintext(kafka, "PLAIN"),
    "sasl-scram-sha-256": lambda kafka: sasl_plaintext(kafka, "SCRAM-SHA-256"),
    "sasl-scram-sha-512": lambda kafka: sasl_plaintext(kafka, "SCRAM-SHA-512"),
    "sasl-ssl-eventhubs": eventhubs,
}


def produce_one(config: ClientConfig, topic: str, value: bytes) -> None:
    delivery_errors: list[KafkaError | None] = []
    producer = Producer({**config, "acks": "all"})
    producer.produce(topic, value=value, on_delivery=lambda err, _msg: delivery_errors.append(err))
    assert producer.flush(ROUND_TRIP_TIMEOUT_S) == 0, "message not delivered in time"
    assert delivery_errors == [None]


def consume_until(config: ClientConfig, topic: str, group: str, value: bytes, wait_until: WaitUntil) -> None:
    consumer = Consumer(
        {**config, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    received: list[bytes | None] = []

    def got_value() -> bool:
        message = consumer.poll(0.5)
        if message is not None:
            assert message.error() is None, message.error()
            received.append(message.value())
        return value in received

    try:
        consumer.subscribe([topic])
        wait_until(got_value, ROUND_TRIP_TIMEOUT_S, f"the produced message on {topic}")
    finally:
        consumer.close()


@pytest.mark.parametrize("listener", list(LISTENERS))
def test_round_trip_on_each_listener(
    listener: str,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
) -> None:
    config = LISTENERS[listener](kafka)
    topic = make_topic(f"broker-{listener}")
    value = f"{listener}-{secrets.token_hex(8)}".encode()

    produce_one(config, topic, value)
    consume_until(config, topic, unique_name(f"group-{listener}"), value, wait_until)


def first_error(config: ClientConfig, wait_until: WaitUntil) -> KafkaError:
    """Connects with `config` and returns the first client-level error librdkafka reports."""
    errors: list[KafkaError] = []
    with_callback: ClientConfig = {**config, "error_cb": errors.append}
    client = AdminClient(with_callback)
    # The client connects on creation; poll() serves error_cb.
    wait_until(lambda: client.poll(0.2) >= 0 and bool(errors), 15, "a client error callback")
    with pytest.raises(KafkaException):
        client.list_topics(timeout=2)
    return errors[0]


def test_sasl_ssl_rejects_a_wrong_connection_string(kafka: KafkaEndpoints, wait_until: WaitUntil) -> None:
    wrong_key = secrets.token_urlsafe(32)
    wrong = re.sub(r"SharedAccessKey=.*$", f"SharedAccessKey={wrong_key}", kafka.eventhubs_connection_string)
    assert wrong != kafka.eventhubs_connection_string

    error = first_error(eventhubs(kafka, wrong), wait_until)

    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "Invalid username or password" in error.str()


def test_sasl_ssl_verifies_the_broker_certificate(kafka: KafkaEndpoints, wait_until: WaitUntil) -> None:
    # The system CA store does not know the script's private CA, so verification must fail.
    # "probe" makes librdkafka load the system CA locations instead of the script's CA.
    config = {**eventhubs(kafka), "ssl.ca.location": "probe"}

    error = first_error(config, wait_until)

    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT), error
    assert "certificate verify failed" in error.str()


def test_topics_are_not_auto_created(
    kafka: KafkaEndpoints, unique_name: Callable[[str], str], admin: AdminClient
) -> None:
    topic = unique_name("never-created")
    # A producer's metadata request asks the broker to auto-create; the broker must refuse.
    producer = Producer(plaintext(kafka))
    metadata = producer.list_topics(topic=topic, timeout=10)

    assert metadata.topics[topic].error is not None
    assert metadata.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert topic not in admin.list_topics(timeout=10).topics
