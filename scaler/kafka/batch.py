"""Offsets of many consumer groups on one cluster, read together through one AdminClient: what a
round of the external scaler sends, and (as a batch of one) what every single evaluation sends.

One read of N queries (a consumer group and its topic) sends, whatever N and the partition counts:
* one Metadata request for every topic involved (DescribeTopics), or for every topic of the
  cluster when a query without a topic has a group with no commits at all (KEDA #8104);
* one OffsetFetch per consumer group: for the partitions of its topic, or, for a query without a
  topic, for the whole group (which names its topics, as in KEDA);
* ListOffsets once per partition leader for the partitions of every query together (librdkafka
  groups them by leader); and, only when the earliest_from_log_start fix needs log starts, one more
  ListOffsets per leader.
Each query gets what KEDA's scaler reads for it alone (semantics section 2.1). A failure fails only
the queries that needed the failed piece: an unknown topic its queries, a group's OffsetFetch that
group's queries. Committed and log-end offsets are requested concurrently, as KEDA does, and when
both fail for a query the committed-offset error wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future
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

from kafkakit.errors import BrokerError
from scaler.errors import OffsetsError
from scaler.kafka.admin import kafka_error_of, offsets_error
from scaler.kafka.query import (
    BatchResult,
    Described,
    Key,
    Layout,
    OffsetQuery,
    block,
    combine,
    keys_of,
    layout_of,
    union,
)
from scaler.keda.lag import NO_COMMIT, PartitionOffsets

_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


def read_offsets(admin: AdminClient, queries: Iterable[OffsetQuery], timeout: float) -> BatchResult:
    """Every query's offsets in one batched read (identical queries are read once)."""
    return _Read(admin, timeout).run(list(dict.fromkeys(queries)))


class _Read:
    def __init__(self, admin: AdminClient, timeout: float) -> None:
        self.admin = admin
        self.timeout = timeout
        self.result = BatchResult()

    def run(self, queries: list[OffsetQuery]) -> BatchResult:
        whole = self._whole_groups(sorted({q.consumer_group for q in queries if not q.topic}))
        layouts = self._layouts(queries, whole)
        latest_futures = self._request_offsets(union(layouts.values()), _LATEST)
        committed_futures = self._request_committed(
            {query: layout for query, layout in layouts.items() if query.topic}
        )
        latest = self._offsets_of(latest_futures)
        committed = {group: self._outcome(future) for group, future in committed_futures.items()}
        complete: dict[OffsetQuery, tuple[dict[Key, int], dict[Key, int]]] = {}
        for query, layout in layouts.items():
            known = committed.get(query.consumer_group) if query.topic else whole[query.consumer_group]
            outcome = combine(query, layout, known, latest)
            if isinstance(outcome, BrokerError):
                self.result.errors[query] = outcome
            else:
                complete[query] = outcome
        wants_starts = {q: c for q, (c, _) in complete.items() if q.fetch_log_start}
        log_starts = self._log_starts(wants_starts, layouts)
        for query, (by_key, ends) in complete.items():
            starts = log_starts.get(query, {})
            try:
                self.result.offsets[query] = [
                    PartitionOffsets(key[0], key[1], block(by_key, key), end, starts.get(key))
                    for key, end in sorted(ends.items())
                ]
            except OffsetsError as error:
                self.result.errors[query] = error
        return self.result

    # -- committed offsets ----------------------------------------------------------------------

    def _whole_groups(self, groups: list[str]) -> dict[str, dict[Key, int] | BrokerError]:
        """Every committed offset of each topic-less query's group (its topics are those it committed)."""
        futures = {group: self._offset_fetch(group, None) for group in groups}
        outcomes = {group: self._outcome(future) for group, future in futures.items()}
        return {
            group: known if isinstance(known, BrokerError) else _without_uncommitted(known)
            for group, known in outcomes.items()
        }

    def _request_committed(self, layouts: Mapping[OffsetQuery, Layout]) -> dict[str, Future[Any]]:
        """One OffsetFetch per group, for the partitions of all its queries together."""
        wanted: dict[str, set[Key]] = {}
        for query, layout in layouts.items():
            wanted.setdefault(query.consumer_group, set()).update(keys_of(layout))
        return {group: self._offset_fetch(group, sorted(keys)) for group, keys in sorted(wanted.items())}

    def _offset_fetch(self, group: str, keys: list[Key] | None) -> Future[Any]:
        self.result.requests += 1
        partitions = None if keys is None else [TopicPartition(topic, partition) for topic, partition in keys]
        request = ConsumerGroupTopicPartitions(group, partitions)
        futures = self.admin.list_consumer_group_offsets([request], request_timeout=self.timeout)
        return _map_future(futures[group], _committed_by_partition)

    # -- topic layout -------------------------------------------------------------------------

    def _layouts(
        self, queries: list[OffsetQuery], whole: Mapping[str, dict[Key, int] | BrokerError]
    ) -> dict[OffsetQuery, Layout]:
        """Each query's partitions (and their leaders); queries that cannot be laid out fail here."""
        committed_topics = {t for known in whole.values() if isinstance(known, dict) for t, _ in known}
        every_topic = any(isinstance(known, dict) and not known for known in whole.values())
        if every_topic:  # one Metadata request without topics = every topic (KEDA #8104)
            described = self._all_topics()
        else:
            described = self._describe(sorted({q.topic for q in queries if q.topic} | committed_topics))
        layouts: dict[OffsetQuery, Layout] = {}
        for query in queries:
            try:
                layouts[query] = layout_of(query, whole.get(query.consumer_group), described)
            except BrokerError as error:
                self.result.errors[query] = error
        return layouts

    def _describe(self, topics: list[str]) -> dict[str, Described]:
        if not topics:
            return {}
        self.result.requests += 1
        futures = self.admin.describe_topics(TopicCollection(topics), request_timeout=self.timeout)
        described: dict[str, Described] = {}
        for topic, future in futures.items():
            try:
                description = future.result(timeout=self.timeout + 1)
            except KafkaException as error:
                missing = kafka_error_of(error).code() == KafkaError.UNKNOWN_TOPIC_OR_PART
                described[topic] = (
                    None if missing else offsets_error(f"error describing topic {topic!r}", error)
                )
                continue
            except TimeoutError:
                described[topic] = _no_answer(self.timeout, f"metadata of {topic!r}")
                continue
            described[topic] = {p.id: (p.leader.id if p.leader else -1) for p in description.partitions}
        return described

    def _all_topics(self) -> dict[str, Described]:
        self.result.requests += 1
        try:
            metadata = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as error:
            raise offsets_error("error listing topics", error) from None
        return {
            name: (
                offsets_error(f"error describing topic {name!r}", KafkaException(topic.error))
                if topic.error is not None
                else {pid: part.leader for pid, part in topic.partitions.items()}
            )
            for name, topic in metadata.topics.items()
        }

    # -- log offsets ------------------------------------------------------------------------------

    def _request_offsets(self, layout: Layout, spec: OffsetSpec) -> dict[Key, Future[Any]]:
        request = {TopicPartition(topic, partition): spec for topic, partition in keys_of(layout)}
        if not request:
            return {}
        # librdkafka sends one ListOffsets per partition leader.
        self.result.requests += len({layout[tp.topic][tp.partition] for tp in request})
        # KEDA's ListOffsets v1 has no isolation level: it reads the high watermark, not the LSO.
        futures = self.admin.list_offsets(
            request, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=self.timeout
        )
        return {(tp.topic, tp.partition): future for tp, future in futures.items()}

    def _log_starts(
        self, committed: Mapping[OffsetQuery, dict[Key, int]], layouts: Mapping[OffsetQuery, Layout]
    ) -> dict[OffsetQuery, dict[Key, int]]:
        """Log starts of the uncommitted partitions, for the queries that count from them; a query
        whose log starts cannot all be read counts the log-end offset instead (the upstream fix)."""
        wanted = {
            q: sorted(k for k, offset in c.items() if offset == NO_COMMIT) for q, c in committed.items()
        }
        layout: Layout = {}
        for query, keys in wanted.items():
            for topic, partition in keys:
                layout.setdefault(topic, {})[partition] = layouts[query][topic][partition]
        futures = self._request_offsets(layout, _EARLIEST)
        starts = self._offsets_of(futures)
        found: dict[OffsetQuery, dict[Key, int]] = {}
        for query, keys in wanted.items():
            read = {key: start for key in keys if isinstance(start := starts[key], int)}
            if len(read) == len(keys):
                found[query] = read
        return found

    # -- results ----------------------------------------------------------------------------------

    def _offsets_of(self, futures: Mapping[Key, Future[Any]]) -> dict[Key, int | BrokerError]:
        outcomes = {key: self._outcome(future, _what(key)) for key, future in futures.items()}
        return {key: o if isinstance(o, BrokerError) else int(o.offset) for key, o in outcomes.items()}

    def _outcome(self, future: Future[Any], what: str = "") -> Any:
        """The future's value, or the BrokerError it ended with (returned, not raised)."""
        try:
            return future.result(timeout=self.timeout + 1)
        except KafkaException as error:
            context = f"error reading offsets of {what}" if what else "error listing consumer group offsets"
            return offsets_error(context, error)
        except OffsetsError as error:
            return error
        except TimeoutError:
            return _no_answer(self.timeout, what or "committed offsets")


def _what(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def _no_answer(timeout: float, what: str) -> OffsetsError:
    return OffsetsError(f"no answer within {timeout:g}s ({what})", retriable=True)


def _without_uncommitted(committed: Mapping[Key, int]) -> dict[Key, int]:
    return {key: offset for key, offset in committed.items() if offset != NO_COMMIT}


def _committed_by_partition(result: Any) -> dict[Key, int]:
    committed: dict[Key, int] = {}
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
