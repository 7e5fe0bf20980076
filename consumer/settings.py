"""What a consumer run is asked to do, what it reports, and its librdkafka settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consumer.group import GroupMembership
from kafkakit.clients import confluent_config
from kafkakit.profiles import ConnectionProfile

_PREFETCH_KBYTES = 8192
_PREFETCH_EVENTS = 10_000


@dataclass(frozen=True)
class ConsumeSettings:
    topic: str
    group: str
    process_time: float = 2.0  # simulated work per event, like the tutorial's sleep
    commit_interval: float = 1.0
    max_events: int = 0  # stop after this many events; 0 = until stopped
    poll_timeout: float = 1.0
    progress_interval: float = 5.0


@dataclass(frozen=True)
class ConsumeSummary:
    processed: int
    failed: int
    dead_lettered: int
    committed: dict[tuple[str, int], int]
    busy_seconds: float  # from the first to the last event handled

    @property
    def rate(self) -> float:
        handled = self.processed + self.failed
        return handled / self.busy_seconds if self.busy_seconds > 0 else 0.0


def consumer_config(profile: ConnectionProfile, group: str, membership: GroupMembership) -> dict[str, Any]:
    """librdkafka settings for an at-least-once group member."""
    config = confluent_config(profile, "consumer")
    config.update(
        {
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # librdkafka prefetches up to 100k events / 64 MB by default: a slow worker gains
            # nothing from that and a pod's memory limit pays for it. A short backoff keeps the
            # smaller queue topped up (measured: same throughput, ~40 MB less RSS). 5 ms rather
            # than 10: a fast loop waited for data less (a 500k-event backlog drained ~16 %
            # faster), while a slow worker with a full queue wakes more often for ~0.1 % of a
            # core (docs/benchmarks.md).
            "queued.max.messages.kbytes": _PREFETCH_KBYTES,
            "queued.min.messages": _PREFETCH_EVENTS,
            "fetch.queue.backoff.ms": 5,
        }
    )
    return membership.apply(config)
