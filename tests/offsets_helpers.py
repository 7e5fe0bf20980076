"""Shared by every tier: build a known lag on the real broker (produce N records per partition,
commit chosen offsets), and a clean environment for the processes a test starts."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

COORDINATOR_TIMEOUT_S = 30.0


def produce(bootstrap: str, topic: str, per_partition: Mapping[int, int]) -> None:
    """Write `per_partition[p]` records to each partition p and wait until all are acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, count in per_partition.items():
        for index in range(count):
            producer.produce(topic, value=f"record-{index}".encode(), partition=partition)
    assert producer.flush(30) == 0, "records were not acknowledged within 30 s"


def commit(bootstrap: str, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
    """Commit offsets for `group` without joining it; waits while the coordinator is still loading."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    partitions = [TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()]
    deadline = time.monotonic() + COORDINATOR_TIMEOUT_S
    try:
        while True:
            try:
                consumer.commit(offsets=partitions, asynchronous=False)
                return
            except KafkaException as error:
                transient = error.args[0].code() in (
                    KafkaError.NOT_COORDINATOR,
                    KafkaError.COORDINATOR_NOT_AVAILABLE,
                    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                )
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


def env_without_connection_settings() -> dict[str, str]:
    """This process's environment minus KAFKA_EVENTHUB_* / LAGSCALE_*, so a child process uses only
    the connection settings a test passes it."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_EVENTHUB_", "LAGSCALE_"))}
