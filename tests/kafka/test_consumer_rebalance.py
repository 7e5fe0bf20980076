"""Rebalances of `python -m consumer` groups on the real broker, for each protocol and assignor:
commits on revoke (eager and incremental), only the moving partitions revoked by incremental
protocols, and static members that restart without moving partitions."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.kafka.conftest import AppKit, RunningApp

pytestmark = pytest.mark.kafka

PROTOCOLS = {
    "classic-range": ["--group-protocol", "classic", "--assignment-strategy", "range"],
    "classic-cooperative-sticky": [
        "--group-protocol",
        "classic",
        "--assignment-strategy",
        "cooperative-sticky",
    ],
    "consumer": ["--group-protocol", "consumer"],
}
INCREMENTAL = {"classic-cooperative-sticky", "consumer"}
WAIT_S = 60  # the consumer protocol hands partitions over on heartbeats, 5 s apart by default


def consume_args(apps: AppKit, topic: str, group: str, *extra: str) -> list[str]:
    return apps.plain("--topic", topic, "--group", group, "--verbose", *extra)


def partitions_of(line: dict[str, str]) -> set[int]:
    names = line["partitions"]
    return set() if names == "none" else {int(name.rsplit("/", 1)[1]) for name in names.split(",")}


def owned(member: RunningApp) -> set[int]:
    """What a member owns now, from its assigned / revoked / lost lines (each names a change)."""
    current: set[int] = set()
    for line in member.events(None):
        if line.get("event") == "assigned":
            current |= partitions_of(line)
        elif line.get("event") in ("revoked", "lost"):
            current -= partitions_of(line)
    return current


def processed_ids(*members: RunningApp) -> list[str]:
    return [line["id"] for member in members for line in member.events("processed")]


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_member_joining_mid_run_takes_over_partitions_without_reprocessing(
    protocol: str,
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
) -> None:
    """The revoke callback commits what is done: the first member has processed a first wave but
    not committed it yet (a 60 s commit interval) when the second joins; neither then processes an
    event the other did (at-least-once would allow it; the revoke commit prevents it). An
    incremental protocol takes from the first member only the partitions that move."""
    topic, group = make_topic("rebalance", partitions=4), unique_name("group")
    args = consume_args(apps, topic, group, "--process-time", "0.05", "--commit-interval", "60")
    args += PROTOCOLS[protocol]
    first_wave = apps.produce_events(topic, 30)
    first = apps.start("consumer", args)
    wait_until(lambda: len(first.events("processed")) == 30, WAIT_S, "the first member to do the first wave")
    second = apps.start("consumer", args)
    wait_until(lambda: len(owned(first)) == len(owned(second)) == 2, WAIT_S, "two partitions each")
    second_wave = apps.produce_events(topic, 40)

    wait_until(lambda: len(processed_ids(first, second)) >= 70, WAIT_S, "both waves processed")
    for member in (first, second):
        member.process.send_signal(signal.SIGTERM)
        assert member.wait(15) == 0, member.log()

    assert sorted(processed_ids(first, second)) == sorted(first_wave | second_wave)  # all, none twice
    assert second.events("processed"), second.log()  # it took over partitions with work on them
    assert apps.committed(group, topic) == apps.end_offsets(topic)
    first_revoke = partitions_of(first.events("revoked")[0])
    if protocol in INCREMENTAL:
        assert len(first_revoke) == 2, first.log()  # only what moves to the second member
    else:
        assert first_revoke == {0, 1, 2, 3}, first.log()  # eager: everything, then a new assignment


@pytest.mark.parametrize("protocol", ["classic-cooperative-sticky", "consumer"])
def test_a_static_member_restarted_within_the_session_timeout_keeps_its_partitions(
    protocol: str,
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
) -> None:
    """Static membership (KIP-345): a member that stops without leaving the group and comes back
    with the same --group-instance-id before the session timeout gets its partitions back, and
    the other member is not disturbed (no revoke, no assign)."""
    topic, group = make_topic("static", partitions=4), unique_name("group")
    args = [*consume_args(apps, topic, group, "--process-time", "0"), *PROTOCOLS[protocol]]
    first = apps.start("consumer", [*args, "--group-instance-id", "pod-a"])
    wait_until(lambda: len(owned(first)) == 4, WAIT_S, "the first member to own every partition")
    other = apps.start("consumer", [*args, "--group-instance-id", "pod-b"])
    wait_until(lambda: len(owned(first)) == len(owned(other)) == 2, WAIT_S, "two partitions each")
    kept_by_first, changes_of_other = owned(first), len(other.events(None))
    before_restart = apps.produce_events(topic, 20)
    wait_until(lambda: len(processed_ids(first, other)) == 20, WAIT_S, "the first events processed")

    first.process.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0, first.log()
    restarted = apps.start("consumer", [*args, "--group-instance-id", "pod-a"])
    wait_until(lambda: owned(restarted) == kept_by_first, WAIT_S, "the restarted member's partitions back")
    after_restart = apps.produce_events(topic, 20)
    wait_until(lambda: len(processed_ids(first, other, restarted)) == 40, WAIT_S, "every event processed")

    rebalance_lines = [
        line for line in other.events(None)[changes_of_other:] if line["event"] in ("assigned", "revoked")
    ]
    assert rebalance_lines == [], other.log()  # the restart moved nothing
    assert sorted(processed_ids(first, other, restarted)) == sorted(before_restart | after_restart)
    for member in (other, restarted):
        member.process.send_signal(signal.SIGTERM)
        assert member.wait(15) == 0, member.log()
    assert apps.committed(group, topic) == apps.end_offsets(topic)


def test_a_crashed_static_member_blocks_its_id_under_the_consumer_protocol(
    apps: AppKit,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
) -> None:
    """KIP-848 fences the NEW member when an instance id is still held (classic fenced the old one):
    a replacement started right after a crash, with the crashed member's id, exits with a line that
    says why, instead of taking over as it would with the classic protocol."""
    topic, group = make_topic("static-crash", partitions=2), unique_name("group")
    args = [*consume_args(apps, topic, group, "--process-time", "0"), *PROTOCOLS["consumer"]]
    args += ["--group-instance-id", "pod-a"]
    crashed = apps.start("consumer", args)
    wait_until(lambda: len(owned(crashed)) == 2, WAIT_S, "the member to own both partitions")
    crashed.kill()

    replacement = apps.run("consumer", args, timeout=WAIT_S)

    assert replacement.returncode == 1, replacement.stderr
    error = replacement.stderr.strip().splitlines()[-1]
    assert error.startswith("error: consumer failed: "), replacement.stderr
    assert "still holds --group-instance-id / LAGSCALE_GROUP_INSTANCE_ID 'pod-a'" in error
