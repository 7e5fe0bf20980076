"""Who should own which partition, as the group's assignor decides it, for one topic.

Members are numbered in the order they joined; the real member ids that assignors sort by are
random, so any fixed order is as good a guess.

* range (classic, eager; librdkafka's default): contiguous blocks, the first members one more.
* roundrobin (classic, eager): partition p to the (p mod n)-th member.
* sticky (classic cooperative-sticky, and the consumer protocol's server-side `uniform` assignor):
  balanced like the others, but every member keeps what it had as far as the balance allows, so
  only the partitions that must move do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Assignment = dict[int, list[int]]
"""member number -> its partitions, ascending."""


def range_assignment(members: Sequence[int], partitions: int) -> Assignment:
    ordered = sorted(members)
    if not ordered:
        return {}
    per_member, extra = divmod(partitions, len(ordered))
    assignment, start = {}, 0
    for index, member in enumerate(ordered):
        count = per_member + (1 if index < extra else 0)
        assignment[member] = list(range(start, start + count))
        start += count
    return assignment


def roundrobin_assignment(members: Sequence[int], partitions: int) -> Assignment:
    ordered = sorted(members)
    if not ordered:
        return {}
    assignment: Assignment = {member: [] for member in ordered}
    for partition in range(partitions):
        assignment[ordered[partition % len(ordered)]].append(partition)
    return assignment


def sticky_assignment(
    members: Sequence[int], partitions: int, previous: Mapping[int, Sequence[int]]
) -> Assignment:
    """Balanced (sizes differ by at most one), moving as few partitions as possible from `previous`."""
    ordered = sorted(members)
    if not ordered:
        return {}
    per_member, extra = divmod(partitions, len(ordered))
    # Members that already hold the most keep the larger quotas, so fewer partitions move.
    by_holding = sorted(ordered, key=lambda member: (-len(previous.get(member, ())), member))
    quota = {member: per_member + (1 if rank < extra else 0) for rank, member in enumerate(by_holding)}
    assignment: Assignment = {member: [] for member in ordered}
    taken: set[int] = set()
    for member in ordered:
        for partition in sorted(previous.get(member, ())):
            if partition < partitions and partition not in taken and len(assignment[member]) < quota[member]:
                assignment[member].append(partition)
                taken.add(partition)
    free = [partition for partition in range(partitions) if partition not in taken]
    for member in sorted(ordered, key=lambda m: (len(assignment[m]) - quota[m], m)):
        while len(assignment[member]) < quota[member] and free:
            assignment[member].append(free.pop(0))
        assignment[member].sort()
    return assignment


def assignment_for(
    strategy: str, members: Sequence[int], partitions: int, previous: Mapping[int, Sequence[int]]
) -> Assignment:
    """The assignment of `strategy`: range, roundrobin, or sticky (cooperative-sticky, uniform)."""
    if strategy == "range":
        return range_assignment(members, partitions)
    if strategy == "roundrobin":
        return roundrobin_assignment(members, partitions)
    return sticky_assignment(members, partitions, previous)
