"""The Kafka side of a KEDA scenario (lab/scenario_runner.py): its topics, and the two things KEDA's
tests do to offsets with their producer and consumer pods, done here with a client: produce records
to chosen partitions, and commit the group at the log end (what a consumer that has read everything
commits, and what KEDA's `commitPartition` helper does)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from offsets_helpers import commit, produce

from lab.kafka_scenarios import Commit, Produce
from lab.lab_env import LabError, wait_for

TOPIC_TIMEOUT_S = 30.0
# What a topic created a moment ago may still answer while its partitions come up.
_NOT_READY_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
)


class ScenarioOffsets:
    """Topics `names` with `partitions[i]` partitions each, and the scenario's consumer group."""

    def __init__(self, bootstrap: str, names: list[str], partitions: tuple[int, ...], group: str) -> None:
        self.bootstrap, self.names, self.partitions, self.group = bootstrap, names, partitions, group
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def create(self) -> None:
        """Create the topics and wait until every partition has a leader (LabError otherwise)."""
        new = [
            NewTopic(n, num_partitions=p, replication_factor=1)
            for n, p in zip(self.names, self.partitions, strict=True)
        ]
        for name, future in self.admin.create_topics(new).items():
            try:
                future.result(timeout=TOPIC_TIMEOUT_S)
            except Exception as error:
                raise LabError(f"creating topic {name} on the broker failed: {error}") from error
        for name, count in zip(self.names, self.partitions, strict=True):
            wait_for(
                f"topic {name} to have leaders for its {count} partitions",
                lambda n=name, c=count: self._ready(n, c),
                TOPIC_TIMEOUT_S,
            )

    def _ready(self, name: str, count: int) -> bool:
        topic = self.admin.list_topics(topic=name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None or len(topic.partitions) != count:
            return False
        return all(partition.leader >= 0 for partition in topic.partitions.values())

    def act(self, action: Produce | Commit) -> None:
        topic = self.names[action.topic]
        try:
            if isinstance(action, Produce):
                produce(self.bootstrap, topic, action.records)
                return
            every = range(self.partitions[action.topic])
            ends = self._log_ends(topic, every if action.partitions is None else action.partitions)
            commit(self.bootstrap, self.group, {(topic, partition): end for partition, end in ends.items()})
        except Exception as error:
            raise LabError(f"{action} on topic {topic} failed: {error}") from error

    def _log_ends(self, topic: str, partitions: Iterable[int]) -> dict[int, int]:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group})
        try:
            return {p: self._log_end(consumer, TopicPartition(topic, p)) for p in partitions}
        finally:
            consumer.close()

    @staticmethod
    def _log_end(consumer: Consumer, partition: TopicPartition) -> int:
        """The high watermark; a new topic's partition may answer "not leader" for a moment."""
        deadline = time.monotonic() + TOPIC_TIMEOUT_S
        while True:
            try:
                high: int = consumer.get_watermark_offsets(partition, timeout=10)[1]
                return high
            except KafkaException as error:
                if error.args[0].code() not in _NOT_READY_YET or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def delete(self) -> None:
        for future in self.admin.delete_topics(self.names).values():
            with contextlib.suppress(Exception):  # a leftover topic harms no later scenario
                future.result(timeout=TOPIC_TIMEOUT_S)
