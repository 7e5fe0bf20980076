"""The consumer-group model of `lagscale simulate`: assignors, and who owns which partition when,
under the consumer protocol (KIP-848) and the classic eager and cooperative protocols."""

from __future__ import annotations

import dataclasses

import pytest

from lagscale.simulate.assignors import range_assignment, roundrobin_assignment, sticky_assignment
from lagscale.simulate.group_settings import GroupSettings, measured_group
from lagscale.simulate.keys import KeySpread
from lagscale.simulate.simulation import SimulationClock
from lagscale.simulate.topic import SimulatedTopic
from lagscale.simulate.world import SimulatedDeployment

# Round numbers, so the expected times can be worked out by hand.
TIMINGS = {"join_latency": 0.0, "fetch_delay": 0.0, "revoke_pause": 0.0, "assign_pause": 0.0}
CONSUMER = GroupSettings(protocol="consumer", heartbeat_interval=5.0, **TIMINGS)
EAGER = GroupSettings(protocol="classic", assignment_strategy="range", heartbeat_interval=3.0, **TIMINGS)
COOPERATIVE = dataclasses.replace(EAGER, assignment_strategy="cooperative-sticky")


class World:
    def __init__(
        self, group: GroupSettings, initial: int = 0, partitions: int = 4, spread: float = 0.0
    ) -> None:
        self.clock = SimulationClock()
        self.topic = SimulatedTopic("t", partitions, KeySpread("even"))
        self.deployment = SimulatedDeployment(
            self.clock,
            self.topic,
            group=group,
            process_time=0.1,
            pod_start_delay=0.0,
            initial_replicas=initial,
            pod_start_spread=spread,
        )
        self.steps = 0

    def until(self, moment: float) -> None:
        while self.steps / 10 < moment - 1e-9:
            now = self.steps / 10
            self.clock.set(now)
            self.deployment.work(now, (self.steps + 1) / 10)
            self.steps += 1
        self.clock.set(self.steps / 10)

    def owned(self) -> dict[int, list[int]]:
        return {number: sorted(p for p, o in self.deployment.group.owner.items() if o == number)
                for number in sorted(self.deployment.group.members)}  # fmt: skip


def test_range_gives_contiguous_blocks_the_first_members_one_more() -> None:
    assert range_assignment([1, 2, 3], 8) == {1: [0, 1, 2], 2: [3, 4, 5], 3: [6, 7]}


def test_roundrobin_deals_partitions_in_turn() -> None:
    assert roundrobin_assignment([2, 1], 5) == {1: [0, 2, 4], 2: [1, 3]}


def test_sticky_moves_only_what_balance_needs() -> None:
    assert sticky_assignment([1, 2], 6, {1: [0, 1, 2, 3, 4, 5]}) == {1: [0, 1, 2], 2: [3, 4, 5]}
    after = sticky_assignment([1, 2, 3], 6, {1: [0, 1, 2], 2: [3, 4, 5]})
    assert after[1][:2] == [0, 1]
    assert after[2][:2] == [3, 4]
    assert sorted(after[3]) == [2, 5]


def test_consumer_protocol_first_joiner_takes_all_until_its_next_heartbeat() -> None:
    world = World(CONSUMER)
    world.deployment.set_replicas(1)
    world.until(1.0)
    world.deployment.set_replicas(2)  # joins at t=1: the broker wants 2 partitions moved to it
    world.until(5.5)
    assert world.owned() == {1: [0, 1], 2: []}  # member 1 gave them up at its heartbeat, t=5
    world.until(6.1)
    assert world.owned() == {1: [0, 1], 2: [2, 3]}  # member 2 took them at its own, t=6


def test_pods_asked_for_by_keda_and_just_after_by_the_hpa_start_one_after_another() -> None:
    # KEDA's 0 -> 1 and, a read of the offsets later, the HPA's 1 -> 3: the consumers still
    # start pod_start_spread apart, so the first one takes every partition (as real runs show:
    # one consumer alone until its next heartbeat).
    world = World(dataclasses.replace(CONSUMER, join_latency=0.05), spread=0.2)
    world.deployment.set_replicas(1)
    world.clock.set(0.005)
    world.deployment.set_replicas(3)
    world.until(1.0)
    assert world.owned() == {1: [0, 1, 2, 3], 2: [], 3: []}
    assert [member.started_at for member in world.deployment.members] == pytest.approx(
        [0.0, 0.2, 0.4]
    )  # not 0.005 and 0.205


def test_consumer_protocol_leaving_members_partitions_wait_for_the_others_heartbeats() -> None:
    world = World(CONSUMER, initial=2)
    world.until(2.0)
    world.deployment.set_replicas(1)
    world.until(4.9)
    assert world.owned() == {1: [0, 1]}
    world.until(5.1)  # member 1's heartbeat (every 5 s from the start)
    assert world.owned() == {1: [0, 1, 2, 3]}


def test_eager_rebalance_revokes_everything_and_hands_out_after_every_member_rejoined() -> None:
    world = World(EAGER, initial=2)
    world.until(1.0)
    world.deployment.set_replicas(3)
    world.until(2.9)
    assert world.owned() == {1: [0, 1], 2: [2, 3], 3: []}  # nobody has heard of it yet
    world.until(3.2)  # both learn at their heartbeat (t=3), revoke all, rejoin: the sync follows
    assert world.owned() == {1: [0, 1], 2: [2], 3: [3]}


def test_cooperative_rebalance_revokes_only_what_moves_in_two_rounds() -> None:
    world = World(COOPERATIVE, initial=2)
    world.topic.produce(400)  # busy members: callbacks wait for the end of a batch
    world.until(1.0)
    world.deployment.set_replicas(3)
    world.until(3.05)
    assert world.owned()[3] == []
    world.until(8.0)  # round 2 waits for member 3's heartbeat at t=7
    owned = world.owned()
    assert sorted(p for parts in owned.values() for p in parts) == [0, 1, 2, 3]
    assert owned[1][0] == 0  # each kept its first partition throughout
    assert owned[2][0] == 2
    assert len(owned[3]) == 1


def test_crashed_members_partitions_wait_for_the_session_timeout() -> None:
    crashing = dataclasses.replace(CONSUMER, stop="crash", session_timeout=10.0)
    world = World(crashing, initial=2)
    world.until(1.0)
    world.deployment.set_replicas(1)
    world.until(10.9)
    assert world.owned() == {1: [0, 1], 2: [2, 3]}  # the crashed member 2 still holds them
    world.until(15.1)
    assert world.owned() == {1: [0, 1, 2, 3]}


def test_measured_defaults_exist_for_every_protocol_and_flags_override_them() -> None:
    for protocol, strategy in [("consumer", ""), ("classic", "range"), ("classic", "roundrobin"),
                               ("classic", "cooperative-sticky")]:  # fmt: skip
        group = measured_group(protocol, strategy)
        assert group.heartbeat_interval == (5.0 if protocol == "consumer" else 3.0)
        assert group.join_latency >= 0
        assert group.fetch_delay >= 0
    assert measured_group("consumer", revoke_pause=2.0).revoke_pause == 2.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"protocol": "eager"}, "--group-protocol"),
        ({"assignment_strategy": "range"}, "--assignment-strategy: applies to --group-protocol classic"),
        ({"protocol": "classic", "assignment_strategy": "sticky"}, "--assignment-strategy"),
        ({"revoke_pause": -1.0}, "--revoke-pause"),
        ({"commit_interval": 0.0}, "--commit-interval"),
    ],
)
def test_bad_group_settings_name_the_flag(changes: dict[str, object], message: str) -> None:
    from kafkakit.errors import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(CONSUMER, **changes).validate()  # type: ignore[arg-type]
