"""What one evaluation reads (OffsetQuery), what a batched read gives back (BatchResult), and the
pure steps between the broker's answers and a query's offsets: its partitions, its committed and
log-end offsets, and which failure fails it. No client here: scaler.kafka.batch does the requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kafkakit.errors import BrokerError
from scaler.errors import OffsetsError, topic_not_found
from scaler.keda.fixes import Fixes
from scaler.keda.lag import NO_COMMIT, PartitionOffsets
from scaler.keda.trigger import KafkaTrigger

Key = tuple[str, int]
# topic -> partition id -> leader broker id
Layout = dict[str, dict[int, int]]
# A topic as described: its partitions, None when it does not exist, or the error describing it.
Described = dict[int, int] | BrokerError | None


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


@dataclass
class BatchResult:
    """Per query: its offsets, or the error that failed it; and the requests the read sent."""

    offsets: dict[OffsetQuery, list[PartitionOffsets]] = field(default_factory=dict)
    errors: dict[OffsetQuery, BrokerError] = field(default_factory=dict)
    requests: int = 0

    def of(self, query: OffsetQuery) -> list[PartitionOffsets]:
        """The query's offsets; its error is raised."""
        if query in self.errors:
            raise self.errors[query]
        return self.offsets[query]


def layout_of(
    query: OffsetQuery, known: dict[Key, int] | BrokerError | None, described: Mapping[str, Described]
) -> Layout:
    """The query's topics and partitions, from the described topics; BrokerError when unusable."""
    if query.topic:
        return _limit(
            {query.topic: _partitions(query.topic, described, "")}, query.topic, query.partition_limitation
        )
    if isinstance(known, BrokerError):
        raise known
    if known:
        topics = sorted({topic for topic, _ in known})
        return {topic: _partitions(topic, described, query.consumer_group) for topic in topics}
    # No commits at all: every topic of the cluster counts, and one bad topic fails the evaluation.
    return {topic: _partitions(topic, described, "") for topic in sorted(described)}


def _partitions(topic: str, described: Mapping[str, Described], committed_by: str) -> dict[int, int]:
    found = described.get(topic)
    if found is None:
        raise topic_not_found(topic, committed_by=committed_by)
    if isinstance(found, BrokerError):
        raise found
    return found


def combine(
    query: OffsetQuery,
    layout: Layout,
    known: dict[Key, int] | BrokerError | None,
    latest: Mapping[Key, int | BrokerError],
) -> tuple[dict[Key, int], dict[Key, int]] | BrokerError:
    """(committed, log end) of the query's partitions, or the error that fails it; the committed
    offsets' error first, as in KEDA."""
    if isinstance(known, BrokerError):
        return known
    keys = keys_of(layout)
    committed = {key: (known or {}).get(key, NO_COMMIT) for key in keys} if not query.topic else known or {}
    ends: dict[Key, int] = {}
    for key in keys:
        end = latest[key]
        if isinstance(end, BrokerError):
            return end
        ends[key] = end
    return committed, ends


def block(committed: Mapping[Key, int], key: Key) -> int:
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


def keys_of(layout: Layout) -> list[Key]:
    return [
        (topic, partition) for topic, partitions in sorted(layout.items()) for partition in sorted(partitions)
    ]


def union(layouts: Iterable[Layout]) -> Layout:
    union: Layout = {}
    for layout in layouts:
        for topic, partitions in layout.items():
            union.setdefault(topic, {}).update(partitions)
    return union
