"""The simulated topic, consumers and Deployment that `lagscale simulate` drives the real loop against."""

from __future__ import annotations

import pytest

from lagscale.simulate.group_settings import GroupSettings
from lagscale.simulate.keys import KeySpread
from lagscale.simulate.simulation import SimulationClock
from lagscale.simulate.topic import SimulatedTopic
from lagscale.simulate.world import SimulatedDeployment

# A group whose rebalances cost nothing: what is left is pods, batches and commits.
INSTANT = GroupSettings(protocol="consumer", heartbeat_interval=5.0)


def deployment_for(
    topic: SimulatedTopic, *, group: GroupSettings = INSTANT, start: float = 0.0, initial: int = 0
) -> tuple[SimulationClock, SimulatedDeployment]:
    clock = SimulationClock()
    deployment = SimulatedDeployment(
        clock, topic, group=group, process_time=0.1, pod_start_delay=start, initial_replicas=initial
    )
    return clock, deployment


def advance(clock: SimulationClock, deployment: SimulatedDeployment, seconds: float) -> None:
    """Let the world run for `seconds`, a tenth of a second at a time, as the simulation does."""
    steps = round(seconds * 10)
    start = clock.now()
    for step in range(steps):
        now = start + step / 10
        clock.set(now)
        deployment.work(now, now + 0.1)
    clock.set(start + seconds)


def test_events_spread_evenly_round_robin() -> None:
    topic = SimulatedTopic("t", 4, KeySpread("even"))
    topic.produce(6)
    topic.produce(2)
    assert topic.latest == [2, 2, 2, 2]
    assert topic.total_lag() == 8


def test_fetch_reports_committed_and_log_end_offsets() -> None:
    topic = SimulatedTopic("orders", 2, KeySpread("even"))
    topic.produce(4)
    topic.commit(0, 1)
    offsets = topic.fetch()
    assert [(o.topic, o.partition, o.committed, o.latest) for o in offsets] == [
        ("orders", 0, 1, 2),
        ("orders", 1, 0, 2),
    ]


def test_a_consumer_works_in_batches_and_its_work_shows_as_lag_until_committed() -> None:
    # --process-time 0.1 and a 1 s commit interval: batches of 10 events, committed as each ends.
    topic = SimulatedTopic("t", 1)
    topic.produce(100)
    clock, deployment = deployment_for(topic, initial=1)
    advance(clock, deployment, 0.9)
    assert topic.total_lag() == 100  # the first batch is still being worked on
    advance(clock, deployment, 0.2)
    assert topic.total_lag() == 90
    advance(clock, deployment, 8.9)
    assert topic.total_lag() == 10  # the tenth batch ends at t=10
    assert deployment.processed() == 90


def test_the_consumers_own_cost_per_event_slows_them_down() -> None:
    topic = SimulatedTopic("t", 1)
    topic.produce(100)
    slow = GroupSettings(event_overhead=0.025)  # 0.125 s an event: 8 per second, not 10
    clock, deployment = deployment_for(topic, group=slow, initial=1)
    advance(clock, deployment, 10.1)  # eight batches of 1.25 s
    assert topic.total_lag() == 20


def test_members_beyond_the_partition_count_get_nothing() -> None:
    topic = SimulatedTopic("t", 2, KeySpread("even"))
    topic.produce(1000)
    clock, deployment = deployment_for(topic, initial=5)
    advance(clock, deployment, 3.1)
    assert deployment.ready_replicas() == 2
    assert deployment.processed() == 2 * 30


def test_pods_join_after_the_start_delay_and_scale_in_stops_the_newest() -> None:
    topic = SimulatedTopic("t", 2, KeySpread("even"))
    clock, deployment = deployment_for(topic, start=3.0)
    deployment.set_replicas(2)
    assert (deployment.current_replicas(), deployment.ready_replicas()) == (2, 0)
    advance(clock, deployment, 2.9)
    assert deployment.group.members == {}
    advance(clock, deployment, 0.2)
    assert sorted(deployment.group.members) == [1, 2]
    deployment.set_replicas(1)
    assert deployment.current_replicas() == 1
    assert sorted(deployment.group.members) == [1]


def test_a_graceful_stop_finishes_the_event_in_hand_and_commits() -> None:
    topic = SimulatedTopic("t", 1)
    topic.produce(100)
    clock, deployment = deployment_for(topic, initial=1)
    advance(clock, deployment, 1.55)  # one batch committed (10), five more events done, one in hand
    deployment.set_replicas(0)
    assert topic.committed == [16]


def test_a_crash_commits_nothing_and_its_partitions_wait_for_the_session_timeout() -> None:
    topic = SimulatedTopic("t", 1)
    topic.produce(100)
    crashing = GroupSettings(stop="crash", session_timeout=10.0)
    clock, deployment = deployment_for(topic, group=crashing, initial=2)
    advance(clock, deployment, 1.55)
    deployment.set_replicas(1)  # the newest pod, which holds nothing here, goes
    assert topic.committed == [10]
    deployment.set_replicas(2)
    advance(clock, deployment, 1.0)
    deployment.set_replicas(0)  # the owner crashes: its last 15 events were never committed
    assert topic.committed == [20]


def test_invalid_world_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="partitions"):
        SimulatedTopic("t", 0)
    with pytest.raises(ValueError, match="process time"):
        SimulatedDeployment(
            SimulationClock(), SimulatedTopic("t", 1), group=INSTANT, process_time=0, pod_start_delay=0
        )
