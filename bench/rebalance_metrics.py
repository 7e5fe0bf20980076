"""What one scale step of bench_rebalance.py cost, from the members' processing and ownership logs.

A step's window runs from the scale action (processes started, or signalled) until the next step
begins (the group was stable for the settle time by then):

* group pause: the longest time in the window during which no member processed any event;
* survivor pause: the longest such time for one member that stays in the group (alive before and
  after the step): an eager rebalance stops every member, an incremental one only the partitions
  that move;
* idle member-seconds: the time members that stay spent without processing, summed over them
  (gaps longer than IDLE_GAP_S; a member's normal gap between two events is one event's work);
* moved: partitions whose owner after the step differs from their owner before it;
* revoked: partitions taken from members that stay (an eager rebalance revokes all of theirs);
* duplicates: events processed in the window that some member had already processed before;
* stable after: from the scale action until the last ownership change before the group settled
  (every partition owned by exactly one live member, each live member owning its share).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rebalance_fleet import OwnershipChange, Processed

IDLE_GAP_S = 0.1


@dataclass(frozen=True)
class StepWindow:
    label: str  # e.g. "4 → 6"
    started_at: float
    ended_at: float
    stable_at: float | None  # None: not stable within the step's time limit
    survivors: frozenset[int]
    owners_before: dict[int, int]
    owners_after: dict[int, int]


@dataclass(frozen=True)
class StepCost:
    label: str
    group_pause: float
    survivor_pause: float
    idle: float  # member-seconds
    moved: int
    revoked: int
    duplicates: int
    stable_after: float | None


def gaps(start: float, times: Iterable[float]) -> list[float]:
    """The waits between `start` and the first time, and between consecutive times."""
    waits, previous = [], start
    for moment in sorted(times):
        waits.append(max(0.0, moment - previous))
        previous = max(previous, moment)
    return waits


def longest_gap(start: float, times: Iterable[float]) -> float:
    return max(gaps(start, times), default=0.0)


def duplicate_times(records: Sequence[Processed]) -> list[float]:
    """When an already processed event (partition, offset) was processed again (by any member)."""
    seen: set[tuple[int, int]] = set()
    repeats = []
    for record in sorted(records, key=lambda r: r.at):
        position = (record.partition, record.offset)
        if position in seen:
            repeats.append(record.at)
        seen.add(position)
    return repeats


def step_cost(
    window: StepWindow,
    records: Sequence[Processed],
    changes: Sequence[OwnershipChange],
    repeats: Sequence[float],
) -> StepCost:
    start, end = window.started_at, window.ended_at
    inside = [r for r in records if start <= r.at < end]
    per_survivor = [gaps(start, (r.at for r in inside if r.member == member)) for member in window.survivors]
    revoked = sum(
        len(c.partitions)
        for c in changes
        if c.kind != "assigned" and c.member in window.survivors and start <= c.at < end
    )
    partitions = window.owners_before.keys() | window.owners_after.keys()
    moved = sum(1 for p in partitions if window.owners_before.get(p) != window.owners_after.get(p))
    return StepCost(
        label=window.label,
        group_pause=longest_gap(start, (r.at for r in inside)),
        survivor_pause=max((max(waits, default=0.0) for waits in per_survivor), default=0.0),
        idle=sum(wait for waits in per_survivor for wait in waits if wait > IDLE_GAP_S),
        moved=moved,
        revoked=revoked,
        duplicates=sum(1 for at in repeats if start <= at < end),
        stable_after=None if window.stable_at is None else max(0.0, window.stable_at - start),
    )
