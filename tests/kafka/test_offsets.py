"""scaler.kafka.offsets against the real broker: offsets, KEDA's topic discovery, errors, request counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from offsets_helpers import commit, produce

from kafkakit.errors import BrokerError
from kafkakit.profiles import build_profile
from scaler.errors import OffsetsError
from scaler.kafka.connection import KafkaConnection, admin_config
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.kafka.wire_stats import WireRequestCounter
from scaler.keda.lag import NO_COMMIT, PartitionOffsets
from scaler.keda.trigger import parse_trigger

pytestmark = pytest.mark.kafka


def plain_source(bootstrap: str, query: OffsetQuery, timeout: float = 10.0) -> KafkaOffsetSource:
    return KafkaOffsetSource(
        KafkaConnection(build_profile("plaintext", bootstrap=bootstrap)), query, timeout=timeout
    )


def by_partition(offsets: list[PartitionOffsets]) -> dict[tuple[str, int], tuple[int, int | None]]:
    return {(entry.topic, entry.partition): (entry.committed, entry.latest) for entry in offsets}


def fetch_when_settled(source: KafkaOffsetSource, timeout: float = 30.0) -> list[PartitionOffsets]:
    """Every-topic reads race with other tests creating and deleting topics on the same broker."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return source.fetch()
        except OffsetsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_offsets_match_what_was_produced_and_committed(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("offsets", partitions=4), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 10, 1: 20, 2: 30, 3: 0})
    commit(kafka.bootstrap, group, {(topic, 0): 3, (topic, 1): 20})

    offsets = plain_source(kafka.bootstrap, OffsetQuery(group, topic)).fetch()

    assert [(o.partition, o.committed, o.latest, o.log_start) for o in offsets] == [
        (0, 3, 10, None),
        (1, 20, 20, None),
        (2, NO_COMMIT, 30, None),
        (3, NO_COMMIT, 0, None),
    ]


def test_log_start_is_read_only_for_uncommitted_partitions_and_only_when_asked(
    kafka, make_topic, unique_name
) -> None:
    topic, group = make_topic("retention", partitions=3), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 10, 1: 10, 2: 10})
    commit(kafka.bootstrap, group, {(topic, 0): 10})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 1, 4), TopicPartition(topic, 0, 2)]).values():
        future.result(timeout=30)  # retention, simulated: log start of p1 -> 4, of p0 -> 2

    plain = plain_source(kafka.bootstrap, OffsetQuery(group, topic))
    with_log_start = plain_source(kafka.bootstrap, OffsetQuery(group, topic, fetch_log_start=True))

    assert [o.log_start for o in plain.fetch()] == [None, None, None]
    # p0 is committed, so its log start is never needed (nor asked for).
    assert [o.log_start for o in with_log_start.fetch()] == [None, 4, 0]
    assert with_log_start.requests_last_evaluation == plain.requests_last_evaluation + 1


def test_without_topic_reads_every_topic_the_group_committed(kafka, make_topic, unique_name) -> None:
    first, second, unrelated = (make_topic(name, partitions=2) for name in ("first", "second", "unrelated"))
    group = unique_name("group")
    produce(kafka.bootstrap, first, {0: 5, 1: 6})
    produce(kafka.bootstrap, second, {0: 7, 1: 8})
    produce(kafka.bootstrap, unrelated, {0: 9})
    commit(kafka.bootstrap, group, {(first, 0): 2, (second, 1): 8})

    offsets = plain_source(kafka.bootstrap, OffsetQuery(group)).fetch()

    # Every partition of each committed topic, uncommitted ones as -1; nothing from other topics.
    assert by_partition(offsets) == {
        (first, 0): (2, 5),
        (first, 1): (NO_COMMIT, 6),
        (second, 0): (NO_COMMIT, 7),
        (second, 1): (8, 8),
    }


def test_group_without_commits_and_no_topic_reads_every_topic_like_keda(
    kafka, make_topic, unique_name
) -> None:
    # KEDA issue #8104: an empty topic list in the Metadata request means "all topics".
    topic = make_topic("visible", partitions=2)
    produce(kafka.bootstrap, topic, {0: 4, 1: 1})

    offsets = fetch_when_settled(plain_source(kafka.bootstrap, OffsetQuery(unique_name("fresh"))))

    keyed = by_partition(offsets)
    assert keyed[(topic, 0)] == (NO_COMMIT, 4)
    assert keyed[(topic, 1)] == (NO_COMMIT, 1)
    assert any(entry.topic == "__consumer_offsets" for entry in offsets), "internal topics count too"
    assert all(entry.committed == NO_COMMIT for entry in offsets)


def test_partition_limitation_keeps_only_listed_partitions(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("limited", partitions=6), unique_name("group")
    produce(kafka.bootstrap, topic, {1: 3, 4: 5})

    offsets = plain_source(kafka.bootstrap, OffsetQuery(group, topic, (1, 4, 5, 99))).fetch()

    assert [(o.partition, o.latest) for o in offsets] == [(1, 3), (4, 5), (5, 0)]
    with pytest.raises(OffsetsError, match="expected at least one active partition") as caught:
        plain_source(kafka.bootstrap, OffsetQuery(group, topic, (50, 51))).fetch()
    assert not caught.value.retriable


def test_missing_topic_is_a_clear_permanent_error_and_is_not_created(kafka, unique_name) -> None:
    missing = unique_name("missing")
    with pytest.raises(OffsetsError, match=f"topic '{missing}' does not exist") as caught:
        plain_source(kafka.bootstrap, OffsetQuery(unique_name("group"), missing)).fetch()
    assert not caught.value.retriable
    topics = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10).topics
    assert missing not in topics


def test_requests_per_evaluation_do_not_grow_with_partitions(kafka, make_topic, unique_name) -> None:
    counted: dict[int, tuple[int, int]] = {}
    for partitions in (1, 50):
        topic, group = make_topic(f"p{partitions}", partitions=partitions), unique_name("group")
        produce(kafka.bootstrap, topic, dict.fromkeys(range(partitions), 2))
        commit(kafka.bootstrap, group, {(topic, p): 1 for p in range(0, partitions, 2)})
        connection = KafkaConnection(build_profile("plaintext", bootstrap=kafka.bootstrap))
        counter = WireRequestCounter()
        admin = AdminClient(counter.attach(admin_config(connection)))
        source = KafkaOffsetSource(connection, OffsetQuery(group, topic), admin=admin)
        source.fetch()  # warm-up: coordinator lookup and connections are once per client
        samples = []
        for _ in range(3):  # the least of 3: librdkafka may add a background metadata refresh
            before = counter.sent(admin)
            assert len(source.fetch()) == partitions
            samples.append(counter.sent(admin) - before)
        counted[partitions] = (source.requests_last_evaluation, min(samples))
    # Metadata + OffsetFetch + one ListOffsets (single broker), both as counted and as sent on the wire.
    assert counted == {1: (3, 3), 50: (3, 3)}


def test_unreachable_broker_fails_within_the_timeout(free_port: Callable[[], int]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerError, match=f"cannot reach Kafka at {address} within 2s") as caught:
        plain_source(address, OffsetQuery("group", "topic"), timeout=2).fetch()
    assert time.monotonic() - started < 10
    assert caught.value.retriable


def test_trigger_with_scram_reads_offsets_over_the_sasl_listener(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("scram", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 3, 1: 4})
    trigger = parse_trigger(
        {
            "bootstrapServers": kafka.bootstrap_sasl,
            "consumerGroup": group,
            "topic": topic,
            "sasl": "scram_sha512",
        },
        {"username": kafka.sasl_username, "password": kafka.sasl_password},
    )

    offsets = KafkaOffsetSource.for_trigger(trigger).fetch()

    assert by_partition(offsets) == {(topic, 0): (NO_COMMIT, 3), (topic, 1): (NO_COMMIT, 4)}


def test_trigger_with_tls_and_ca_pem_text_reads_offsets_over_sasl_ssl(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("tls", partitions=1), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 5})
    commit(kafka.bootstrap, group, {(topic, 0): 1})
    auth = {
        "sasl": "plaintext",
        "tls": "enable",
        "username": "$ConnectionString",
        "password": kafka.eventhubs_connection_string,
        "ca": Path(kafka.ca_file).read_text(),
    }
    trigger = parse_trigger(
        {"bootstrapServers": kafka.bootstrap_ssl, "consumerGroup": group, "topic": topic}, auth
    )

    assert by_partition(KafkaOffsetSource.for_trigger(trigger).fetch()) == {(topic, 0): (1, 5)}


def test_untrusted_certificate_fails_unless_unsafe_ssl(kafka, make_topic, unique_name) -> None:
    topic = make_topic("unsafe", partitions=1)
    metadata = {
        "bootstrapServers": kafka.bootstrap_ssl,
        "consumerGroup": unique_name("group"),
        "topic": topic,
    }
    auth = {"sasl": "plaintext", "tls": "enable", "username": "$ConnectionString"}
    auth["password"] = kafka.eventhubs_connection_string

    with pytest.raises(BrokerError, match="TLS handshake") as caught:
        KafkaOffsetSource.for_trigger(parse_trigger(metadata, auth), timeout=3).fetch()
    assert kafka.eventhubs_connection_string not in str(caught.value)
    unsafe = parse_trigger({**metadata, "unsafeSsl": "true"}, auth)
    assert len(KafkaOffsetSource.for_trigger(unsafe).fetch()) == 1


def test_wrong_password_is_an_authentication_error_without_the_password(kafka, unique_name) -> None:
    wrong = "not-the-password-" + unique_name("x")
    trigger = parse_trigger(
        {"bootstrapServers": kafka.bootstrap_sasl, "consumerGroup": unique_name("group"), "topic": "t"},
        {"sasl": "plaintext", "username": kafka.sasl_username, "password": wrong},
    )
    with pytest.raises(BrokerError, match="authentication failed") as caught:
        KafkaOffsetSource.for_trigger(trigger, timeout=5).fetch()
    assert wrong not in str(caught.value)
    assert not caught.value.retriable  # a person has to fix the credentials


def test_log_end_is_the_high_watermark_even_inside_an_open_transaction(
    kafka, make_topic, unique_name
) -> None:
    # KEDA's ListOffsets v1 carries no isolation level: records of a transaction that is still
    # open already count as lag (read_committed would stop at the last stable offset, 0 here).
    topic = make_topic("txn", partitions=1)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": unique_name("txn")})
    producer.init_transactions(30)
    producer.begin_transaction()
    for index in range(5):
        producer.produce(topic, value=f"{index}".encode(), partition=0)
    assert producer.flush(30) == 0
    try:
        offsets = plain_source(kafka.bootstrap, OffsetQuery(unique_name("group"), topic)).fetch()
    finally:
        producer.abort_transaction(30)
    assert [(o.committed, o.latest) for o in offsets] == [(NO_COMMIT, 5)]
