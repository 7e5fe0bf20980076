"""Chaos soak of the at-least-once promise, for the consumer protocol and the classic one: busy
members SIGKILLed and replaced while a backlog drains, the broker restarted (data kept) while the
producer and the members are at work, then more crashes. Afterwards every event was processed,
the committed lag is 0, and every event processed twice is explained by a crash: a member that
was killed processed it after its last accepted commit, and no crash repeats more than two
batches of events (`CRASH_LOSS_BOUND`, from the commit interval).

The broker is the test's own (scripts/kafka, other state directory and free ports), so restarting
it disturbs no other test. A crashed member's partitions wait for its session timeout (45 s by
default, for both protocols), which sets the length of the test: about 2 minutes per protocol.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, NewTopic
from own_broker import OwnBroker

from lagscale.cli import main

if TYPE_CHECKING:
    from tests.kafka.conftest import AppKit, RunningApp

pytestmark = pytest.mark.kafka

PARTITIONS = 6
EVENTS = 9000
BURST = 3000  # the backlog the members drain while they are killed; then 100 events/s for 60 s
RATE = 100
MEMBERS = 3
KILLS = 4
WORK = 100  # events a member processes between two crashes before it may be the victim
SESSION_TIMEOUT_S = 45  # librdkafka's default (classic) and the broker's (consumer protocol)
PROCESS_TIME = 0.01
COMMIT_INTERVAL = 0.5
# The worker fetches one commit interval's worth of events per batch and commits after a batch
# once the interval has passed, so a member has at most two batches processed but not committed:
# the most a SIGKILL can make the group repeat.
BATCH = int(COMMIT_INTERVAL / PROCESS_TIME)
CRASH_LOSS_BOUND = 2 * BATCH
# A killed member's partitions wait for its session to expire (45 s), and a restarted
# coordinator gives every session a fresh timeout.
DRAIN_TIMEOUT_S = 2 * SESSION_TIMEOUT_S + 30
_CLEAN_ENV = {
    name: None for name in os.environ if name.startswith(("KAFKA_EVENTHUB_", "LAGSCALE_", "EVENTHUBS_"))
}


@pytest.fixture(scope="module")
def chaos_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path_factory.mktemp("chaos") / "state")
    broker.run("up")
    try:
        yield broker
    finally:
        broker.run("down", "--purge")


def create_topic(bootstrap: str, topic: str) -> None:
    """With a client of its own, gone before the restart (it would log every failed reconnect)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=60)


def total_lag(bootstrap: str, group: str, topic: str) -> int:
    args = ["lag", "--bootstrap", bootstrap, "--group", group, "--topic", topic, "--json"]
    result = CliRunner(env=_CLEAN_ENV).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert all(p["committed"] >= 0 for p in report["partitions"]), report  # every partition committed
    return int(report["total_lag"])


# The members' verbose lines, read without shlex: thousands of lines are polled often.
_FIELD = re.compile(r"(\w+)=(\S*)")


def lines_of(member: RunningApp, event: str) -> list[dict[str, str]]:
    marker = f" event={event} "
    return [dict(_FIELD.findall(line)) for line in member.log().splitlines() if marker in line]


def processed_count(member: RunningApp) -> int:
    return member.log().count(" event=processed ")


def sequences(member: RunningApp) -> set[int]:
    return {int(line["sequence"]) for line in lines_of(member, "processed")}


def processed_at(member: RunningApp) -> list[tuple[str, tuple[int, int]]]:
    """(log time, (partition, offset)) of every event the member processed."""
    return [
        (line["ts"], (int(line["partition"]), int(line["offset"]))) for line in lines_of(member, "processed")
    ]


def last_commits(member: RunningApp) -> dict[int, int]:
    """partition -> the last offset the broker accepted from this member (next event to read)."""
    commits: dict[int, int] = {}
    for line in lines_of(member, "committed"):
        for item in filter(None, line["offsets"].split(",")):
            partition, offset = item.split(":")
            commits[int(partition)] = int(offset)
    return commits


@pytest.mark.parametrize("protocol", ["consumer", "classic"])
def test_every_event_survives_crashes_and_a_broker_restart(
    protocol: str,
    chaos_broker: OwnBroker,
    apps: AppKit,
    unique_name: Callable[[str], str],
    wait_until: Callable[..., None],
) -> None:
    bootstrap, topic, group = chaos_broker.bootstrap, unique_name("chaos"), unique_name("chaos-group")
    create_topic(bootstrap, topic)
    producer_args = ["--bootstrap", bootstrap, "--topic", topic, "--key", "sequence"]
    producer_args += ["--count", str(EVENTS), "--burst", str(BURST), "--rate", str(RATE)]
    # Its last events may wait out the whole broker restart (slow on a loaded machine): they count.
    producer_args += ["--flush-timeout", "120"]
    producer = apps.start("producer", producer_args)
    member_args = ["--bootstrap", bootstrap, "--topic", topic, "--group", group, "--verbose"]
    member_args += ["--process-time", str(PROCESS_TIME), "--commit-interval", str(COMMIT_INTERVAL)]
    member_args += ["--group-protocol", protocol, "--no-create-dlq-topic"]
    alive = [apps.start("consumer", member_args) for _ in range(MEMBERS)]
    victims: list[RunningApp] = []

    def done() -> int:
        return sum(processed_count(member) for member in alive + victims)

    chooser = random.Random(protocol)

    def crash_a_busy_member(before: str) -> None:
        """SIGKILL a member that has processed WORK events since the last crash, and start another."""
        baseline = {id(member): processed_count(member) for member in alive}

        def busy() -> list[RunningApp]:
            return [m for m in alive if processed_count(m) - baseline[id(m)] >= WORK]

        wait_until(lambda: bool(busy()), SESSION_TIMEOUT_S + 30, f"a member at work before {before}")
        victim = chooser.choice(busy())
        victim.process.send_signal(signal.SIGKILL)
        victim.wait(10)
        alive.remove(victim)
        victims.append(victim)
        alive.append(apps.start("consumer", member_args))
        # A member still starting gives up on a stopped broker after --connect-timeout (a pod
        # would be restarted): the broker is stopped only once every member is past its check.
        wait_until(lambda: " event=start " in alive[-1].log(), 60, "the replacement to start")

    crash_a_busy_member("the first crash")
    crash_a_busy_member("the second crash")
    assert done() < BURST, "the backlog drained before the crashes: the test would prove less"
    assert producer.process.poll() is None, "the producer finished before the restart"
    chaos_broker.run("down")  # data kept; the producer and the members keep trying
    chaos_broker.run("up")
    crash_a_busy_member("the crash after the restart")
    # The crashed members' partitions move once their sessions expire, then a new owner crashes.
    crash_a_busy_member("the last crash")
    assert producer.wait(120) == 0, producer.log()  # every event delivered despite the restart

    everything = set(range(EVENTS))

    def missing() -> set[int]:
        return everything - set().union(*(sequences(member) for member in alive + victims))

    wait_until(lambda: not missing(), DRAIN_TIMEOUT_S, "every sequence number processed")
    wait_until(lambda: total_lag(bootstrap, group, topic) == 0, 30, "a committed lag of 0")
    for member in alive:
        member.process.send_signal(signal.SIGTERM)
        assert member.wait(30) == 0, member.log()

    # An event (partition, offset) processed twice must have been processed first by a member that
    # was killed before it committed it. (The producer may have written an event twice, retrying
    # across the restart: that is a different offset, not the consumer's doing.)
    first_by: dict[tuple[int, int], RunningApp] = {}
    times_processed: Counter[tuple[int, int]] = Counter()
    records = [(stamp, position, app) for app in alive + victims for stamp, position in processed_at(app)]
    for _, position, member in sorted(records, key=lambda record: record[0]):
        first_by.setdefault(position, member)
        times_processed[position] += 1
    repeated = [position for position, count in times_processed.items() if count > 1]
    explained = Counter(
        victims.index(first_by[position])
        for position in repeated
        if first_by[position] in victims
        and position[1] >= last_commits(first_by[position]).get(position[0], 0)
    )
    assert sum(explained.values()) == len(repeated), "events repeated that no crash explains"
    assert max(explained.values(), default=0) <= CRASH_LOSS_BOUND, explained
    print(f"{protocol}: {len(repeated)} events processed twice after {KILLS} crashes, per victim {explained}")
