"""scaler.kafka.batch against the real broker: many queries read together give each exactly what it
gets read alone, a failure stays with its own queries, and the requests do not grow with them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from offsets_helpers import commit, produce

from kafkakit.errors import BrokerError
from kafkakit.profiles import build_profile
from scaler.kafka.batch import read_offsets
from scaler.kafka.connection import KafkaConnection, admin_config
from scaler.kafka.offsets import KafkaOffsetSource
from scaler.kafka.query import OffsetQuery
from scaler.kafka.wire_stats import WireRequestCounter

pytestmark = pytest.mark.kafka


def alone(bootstrap: str, query: OffsetQuery) -> object:
    """What one query gets read alone (its offsets, or its error's type and text)."""
    source = KafkaOffsetSource(KafkaConnection(build_profile("plaintext", bootstrap=bootstrap)), query)
    try:
        return source.fetch()
    except BrokerError as error:
        return (type(error), str(error))


def test_each_query_of_a_batch_gets_what_it_gets_alone(
    kafka, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    shared, other = make_topic("batch", partitions=4), make_topic("batch-other", partitions=2)
    produce(kafka.bootstrap, shared, {0: 10, 1: 8, 2: 6, 3: 4})
    produce(kafka.bootstrap, other, {0: 5, 1: 5})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.delete_records([TopicPartition(shared, 2, 3)]).values():
        future.result(timeout=30)  # log start of partition 2 -> 3
    groups = [unique_name(f"batch-{index}") for index in range(4)]
    commit(kafka.bootstrap, groups[0], {(shared, 0): 4, (shared, 1): 8})
    commit(kafka.bootstrap, groups[1], {(shared, p): 1 for p in range(4)})
    commit(kafka.bootstrap, groups[2], {(shared, 3): 2, (other, 1): 1})  # two topics, read without one
    queries = [
        OffsetQuery(groups[0], shared),
        OffsetQuery(groups[1], shared),
        OffsetQuery(groups[0], shared, partition_limitation=(1, 3)),
        OffsetQuery(groups[0], shared, fetch_log_start=True),
        OffsetQuery(groups[2]),  # every topic the group committed
        OffsetQuery(groups[3], shared),  # never committed
        OffsetQuery(groups[1], unique_name("missing")),  # an unknown topic fails only this one
        OffsetQuery(groups[1], shared, partition_limitation=(9,)),  # matches no partition
    ]
    connection = KafkaConnection(build_profile("plaintext", bootstrap=kafka.bootstrap))
    counter = WireRequestCounter()
    client = AdminClient(counter.attach(admin_config(connection)))
    read_offsets(client, queries, 10)  # warm-up: connections, coordinator lookups
    before = counter.sent(client)
    result = read_offsets(client, queries, 10)
    sent = counter.sent(client) - before

    for query in queries:
        error = result.errors.get(query)
        together = (type(error), str(error)) if error else result.offsets[query]
        assert together == alone(kafka.bootstrap, query), query
    assert set(result.errors) == {queries[6], queries[7]}
    # One Metadata for every topic, one ListOffsets (one broker) for every partition, one more for the
    # log start, one OffsetFetch per group and query kind, and a FindCoordinator before each of those
    # at most (librdkafka caches 11 coordinators; these are fewer, so none after the warm-up).
    assert result.requests == 1 + 1 + 1 + 4  # 3 groups with a topic, 1 without
    assert result.requests <= sent <= 2 * result.requests
