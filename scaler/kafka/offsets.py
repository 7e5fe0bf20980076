"""Offsets of a consumer group from a real cluster, fetched the way KEDA's kafka scaler does.

One evaluation is a fixed handful of requests whatever the partition count (semantics section 2.1):
one Metadata (describe the topic), one OffsetFetch (every committed offset of the group), and
ListOffsets batched by librdkafka into one request per partition leader; log-start offsets are only
asked for when the earliest_from_log_start fix needs them. Committed and log-end offsets are
requested concurrently, as KEDA does, and the committed-offset error wins when both fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from scaler.errors import OffsetsError, topic_not_found
from scaler.kafka.admin import connect, kafka_error_of, offsets_error
from scaler.kafka.connection import KafkaConnection, connection_from_trigger
from scaler.keda.fixes import Fixes
from scaler.keda.lag import NO_COMMIT, PartitionOffsets
from scaler.keda.trigger import KafkaTrigger

_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]

# topic -> partition id -> leader broker id
Layout = dict[str, dict[int, int]]


@dataclass(frozen=True)
class OffsetQuery:
    """What to read: KEDA's consumerGroup, topic ("" = every topic the group committed) and
    partitionLimitation (ignored without a topic, as in KEDA)."""

    consumer_group: str
    topic: str = ""
    partition_limitation: tuple[int, ...] = ()
    fetch_log_start: bool = False

    @classmethod
    def for_trigger(
        cls, trigger: KafkaTrigger, fixes: Fixes | None = None, *, explain: bool = False
    ) -> OffsetQuery:
        """`explain` also reads log starts KEDA does not need, to show the deleted records it counts."""
        counts_log_end = (
            trigger.offset_reset_policy == "earliest" and not trigger.scale_to_zero_on_invalid_offset
        )
        wants_log_start = explain or (fixes is not None and fixes.earliest_from_log_start)
        return cls(
            trigger.consumer_group,
            trigger.topic,
            trigger.partition_limitation,
            counts_log_end and wants_log_start,
        )


class KafkaOffsetSource:
    """Reads a group's offsets with one AdminClient, kept until `reset()` (an OffsetSource)."""

    def __init__(
        self,
        connection: KafkaConnection,
        query: OffsetQuery,
        *,
        timeout: float = 10.0,
        admin: AdminClient | None = None,
    ) -> None:
        self.connection = connection
        self.query = query
        self.timeout = timeout
        self.requests_last_evaluation = 0
        self._admin = admin

    @classmethod
    def for_trigger(
        cls, trigger: KafkaTrigger, fixes: Fixes | None = None, *, timeout: float = 10.0
    ) -> KafkaOffsetSource:
        return cls(connection_from_trigger(trigger), OffsetQuery.for_trigger(trigger, fixes), timeout=timeout)

    def admin(self) -> AdminClient:
        """The AdminClient, connected (and checked) on first use."""
        if self._admin is None:
            self._admin = connect(self.connection, self.timeout)
        return self._admin

    def fetch(self) -> list[PartitionOffsets]:
        self.requests_last_evaluation = 0
        query = self.query
        if query.topic:
            layout = self._describe([query.topic])
            layout = _limit(layout, query.topic, query.partition_limitation)
            committed_future = self._request_committed(layout)
        else:
            known = self._committed_of_whole_group()
            # No commits at all -> KEDA's Metadata request carries no topics = every topic (#8104).
            layout = self._describe(sorted({topic for topic, _ in known})) if known else self._all_topics()
            committed_future = _done({key: known.get(key, NO_COMMIT) for key in _keys(layout)})
        latest_futures = self._request_offsets(layout, _keys(layout), _LATEST)
        committed = self._result(committed_future)
        latest = self._collect_offsets(latest_futures)
        log_start = self._log_start(layout, committed)
        # Like KEDA, iterate what the log-end answers hold (section 2.2), not the described layout.
        return [
            PartitionOffsets(key[0], key[1], _block(committed, key), end, log_start.get(key))
            for key, end in sorted(latest.items())
        ]

    # -- topic layout -------------------------------------------------------------------------

    def _describe(self, topics: list[str]) -> Layout:
        self.requests_last_evaluation += 1
        futures = self.admin().describe_topics(TopicCollection(topics), request_timeout=self.timeout)
        layout: Layout = {}
        for topic, future in futures.items():
            try:
                description = future.result(timeout=self.timeout + 1)
            except KafkaException as error:
                if kafka_error_of(error).code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    group = "" if self.query.topic else self.query.consumer_group
                    raise topic_not_found(topic, committed_by=group) from None
                raise offsets_error(f"error describing topic {topic!r}", error) from None
            layout[topic] = {p.id: (p.leader.id if p.leader else -1) for p in description.partitions}
        return layout

    def _all_topics(self) -> Layout:
        self.requests_last_evaluation += 1
        try:
            metadata = self.admin().list_topics(timeout=self.timeout)
        except KafkaException as error:
            raise offsets_error("error listing topics", error) from None
        for name, topic in metadata.topics.items():
            if topic.error is not None:  # like KEDA: one bad topic fails the evaluation
                raise offsets_error(f"error describing topic {name!r}", KafkaException(topic.error))
        return {
            name: {pid: part.leader for pid, part in topic.partitions.items()}
            for name, topic in metadata.topics.items()
        }

    # -- committed offsets ----------------------------------------------------------------------

    def _request_committed(self, layout: Layout) -> Future[Any]:
        self.requests_last_evaluation += 1
        partitions = [TopicPartition(topic, partition) for topic, partition in _keys(layout)]
        request = ConsumerGroupTopicPartitions(self.query.consumer_group, partitions)
        futures = self.admin().list_consumer_group_offsets([request], request_timeout=self.timeout)
        return _map_future(futures[self.query.consumer_group], _committed_by_partition)

    def _committed_of_whole_group(self) -> dict[tuple[str, int], int]:
        self.requests_last_evaluation += 1
        request = ConsumerGroupTopicPartitions(self.query.consumer_group)
        futures = self.admin().list_consumer_group_offsets([request], request_timeout=self.timeout)
        future = _map_future(futures[self.query.consumer_group], _committed_by_partition)
        committed: dict[tuple[str, int], int] = self._result(future)
        return {key: offset for key, offset in committed.items() if offset != NO_COMMIT}

    # -- log offsets ------------------------------------------------------------------------------

    def _request_offsets(
        self, layout: Layout, keys: Iterable[tuple[str, int]], spec: OffsetSpec
    ) -> dict[TopicPartition, Future[Any]]:
        request = {TopicPartition(topic, partition): spec for topic, partition in keys}
        if not request:
            return {}
        # librdkafka sends one ListOffsets per partition leader.
        self.requests_last_evaluation += len({layout[tp.topic][tp.partition] for tp in request})
        # KEDA's ListOffsets v1 has no isolation level: it reads the high watermark, not the LSO.
        futures = self.admin().list_offsets(
            request, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=self.timeout
        )
        return dict(futures)

    def _collect_offsets(self, futures: Mapping[TopicPartition, Future[Any]]) -> dict[tuple[str, int], int]:
        offsets: dict[tuple[str, int], int] = {}
        for partition, future in futures.items():
            info = self._result(future, f"{partition.topic}/{partition.partition}")
            offsets[(partition.topic, partition.partition)] = int(info.offset)
        return offsets

    def _log_start(
        self, layout: Layout, committed: Mapping[tuple[str, int], int]
    ) -> dict[tuple[str, int], int]:
        if not self.query.fetch_log_start:
            return {}
        uncommitted = [key for key, offset in committed.items() if offset == NO_COMMIT]
        futures = self._request_offsets(layout, uncommitted, _EARLIEST)
        try:
            return self._collect_offsets(futures)
        except OffsetsError:
            return {}  # like the upstream fix: fall back to counting the log-end offset

    def _result(self, future: Future[Any], what: str = "") -> Any:
        try:
            return future.result(timeout=self.timeout + 1)
        except KafkaException as error:
            context = f"error reading offsets of {what}" if what else "error listing consumer group offsets"
            raise offsets_error(context, error) from None
        except TimeoutError:
            raise OffsetsError(
                f"no answer within {self.timeout:g}s ({what or 'committed offsets'})", retriable=True
            ) from None

    def reset(self) -> None:
        """KEDA rebuilds a failing scaler with a new client: the next fetch connects afresh."""
        self._admin = None  # librdkafka closes the client when the last reference goes

    def close(self) -> None:
        self.reset()


def _block(committed: Mapping[tuple[str, int], int], key: tuple[str, int]) -> int:
    if key not in committed:
        topic, partition = key
        raise OffsetsError(
            f"error finding offset block for topic {topic} and partition {partition}: "
            "the group coordinator left it out of its answer",
            retriable=True,
        )
    return committed[key]


def _limit(layout: Layout, topic: str, limitation: tuple[int, ...]) -> Layout:
    if not limitation:
        return layout
    wanted = set(limitation)
    kept = {pid: leader for pid, leader in layout[topic].items() if pid in wanted}
    if not kept:
        raise OffsetsError(
            f"expected at least one active partition within the topic '{topic}': "
            "partitionLimitation matches none of its partitions",
            retriable=False,
        )
    return {topic: kept}


def _keys(layout: Layout) -> list[tuple[str, int]]:
    return [
        (topic, partition) for topic, partitions in sorted(layout.items()) for partition in sorted(partitions)
    ]


def _committed_by_partition(result: Any) -> dict[tuple[str, int], int]:
    committed: dict[tuple[str, int], int] = {}
    for partition in result.topic_partitions:
        if partition.error is not None:
            raise KafkaException(partition.error)
        # librdkafka reports "no commit" as OFFSET_INVALID (-1001); Kafka and KEDA use -1.
        offset = int(partition.offset)
        committed[(partition.topic, partition.partition)] = offset if offset >= 0 else NO_COMMIT
    return committed


def _map_future(future: Future[Any], convert: Any) -> Future[Any]:
    mapped: Future[Any] = Future()

    def relay(source: Future[Any]) -> None:
        try:
            mapped.set_result(convert(source.result()))
        except Exception as error:  # relayed to the waiting caller
            mapped.set_exception(error)

    future.add_done_callback(relay)
    return mapped


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future
