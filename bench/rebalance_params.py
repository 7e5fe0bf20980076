"""The timings `lagscale simulate` models a consumer group with, measured from the members' logs of
bench_rebalance.py (every member logs each event it processed, and each assignment and revocation,
with millisecond timestamps). Each is the median over every case the logs show:

* process_start: from starting `python -m consumer` to its `start` line (imports, broker check);
  it joins the group right after. (All configurations: one value.)
* start_spread: between the `start` lines of members started together, one after another.
* fetch_delay: from an assignment to a member that had no partitions until its first event
  (`processed` time minus the work of one event).
* revoke_pause: from a revocation to the next event of a partition the member kept.
* assign_pause: from an assignment that added partitions to the next event of one it had before.
The heartbeat intervals are configuration, not measured: librdkafka's heartbeat.interval.ms (3 s,
classic) and the broker's group.consumer.heartbeat.interval.ms (5 s, consumer protocol). The join
latency and the cost per event are measured on their own (consumer_timings.py).
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rebalance_fleet import Member, OwnershipChange, Processed

HEARTBEAT_INTERVAL = {"consumer": 5.0, "classic": 3.0}


@dataclass(frozen=True)
class Observations:
    """Every case seen for each timing, in seconds."""

    process_start: list[float]
    start_spread: list[float]
    fetch_delay: list[float]
    revoke_pause: list[float]
    assign_pause: list[float]


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def observe(
    members: Sequence[Member], process_time: float, start_batches: Iterable[Sequence[int]]
) -> Observations:
    """What the logs of one group's members show. `start_batches`: member numbers started together."""
    starts = {member.number: member.start_line_at() for member in members}
    processed = {member.number: sorted(r.at for r in member.processed()) for member in members}
    by_partition: dict[tuple[int, int], list[float]] = {}
    for member in members:
        for record in member.processed():
            by_partition.setdefault((member.number, record.partition), []).append(record.at)
    for times in by_partition.values():
        times.sort()
    changes = sorted((c for m in members for c in m.all_changes()), key=lambda c: c.at)
    batches = [list(batch) for batch in start_batches]
    observations = Observations(
        process_start=[at - m.started_at for m in members if (at := starts[m.number]) is not None],
        start_spread=_spreads(starts, batches),
        fetch_delay=[],
        revoke_pause=[],
        assign_pause=[],
    )
    _ownership_timings(changes, processed, by_partition, process_time, observations)
    return observations


def _spreads(starts: dict[int, float | None], batches: Iterable[Sequence[int]]) -> list[float]:
    spreads = []
    for batch in batches:
        times = sorted(t for number in batch if (t := starts.get(number)) is not None)
        spreads += [later - earlier for earlier, later in itertools.pairwise(times)]
    return spreads


def _ownership_timings(
    changes: Sequence[OwnershipChange],
    processed: dict[int, list[float]],
    by_partition: dict[tuple[int, int], list[float]],
    process_time: float,
    into: Observations,
) -> None:
    owned: dict[int, set[int]] = {}
    last_change: dict[int, OwnershipChange] = {}
    for change in changes:
        before = set(owned.get(change.member, set()))
        previous = last_change.get(change.member)
        last_change[change.member] = change
        if change.kind == "assigned":
            owned[change.member] = before | change.partitions
        else:
            owned[change.member] = before - change.partitions
        kept = sorted(
            t for p in owned[change.member] & before for t in by_partition.get((change.member, p), [])
        )
        if change.kind == "assigned" and change.partitions and not before:
            _after(processed.get(change.member, []), change.at, process_time, into.fetch_delay)
        elif change.kind == "revoked" and change.partitions and kept:
            _after(kept, change.at, process_time, into.revoke_pause)
        elif change.kind == "assigned" and kept and not _part_of_a_revoke(previous, change):
            # Also an empty assignment: librdkafka calls back (and refetches) all the same.
            _after(kept, change.at, process_time, into.assign_pause)


def _part_of_a_revoke(previous: OwnershipChange | None, change: OwnershipChange) -> bool:
    """The consumer logs an empty `assigned` right after a revocation, in the same callback round."""
    return previous is not None and previous.kind != "assigned" and change.at - previous.at < 0.1


def _after(times: list[float], moment: float, process_time: float, into: list[float]) -> None:
    """The wait from `moment` to the start of the first event processed after it."""
    index = bisect.bisect_right(times, moment)
    if index < len(times):
        into.append(max(0.0, times[index] - process_time - moment))


def merge(observations: Iterable[Observations]) -> Observations:
    merged = Observations([], [], [], [], [])
    for one in observations:
        for name in Observations.__dataclass_fields__:
            getattr(merged, name).extend(getattr(one, name))
    return merged


def model_timings(
    protocol: str, observed: Observations, join_latency: Sequence[float]
) -> dict[str, float | None]:
    """The group timings measured.json keeps for one protocol/assignor."""
    return {
        "heartbeat_interval": HEARTBEAT_INTERVAL[protocol],
        "join_latency": median(join_latency),
        "fetch_delay": median(observed.fetch_delay),
        "revoke_pause": median(observed.revoke_pause) or 0.0,
        "assign_pause": median(observed.assign_pause) or 0.0,
    }


__all__ = ["Observations", "Processed", "merge", "model_timings", "observe"]
