"""The simulated topic and Deployment that `lagscale simulate` drives the real loop against."""

from __future__ import annotations

import pytest

from lagscale.simulate.world import SimulatedDeployment, SimulatedTopic
from scaler.loop.clock import FakeClock


def test_events_spread_round_robin_across_partitions() -> None:
    topic = SimulatedTopic("t", 4, process_time=1.0)
    topic.produce(6)
    topic.produce(2)
    assert topic.latest == [2, 2, 2, 2]
    assert topic.total_lag() == 8


def test_one_consumer_processes_one_over_process_time_per_second() -> None:
    topic = SimulatedTopic("t", 2, process_time=0.5)
    topic.produce(10)
    assert topic.consume(consumers=1) == 2
    assert topic.total_lag() == 8
    assert topic.consume(consumers=2) == 4


def test_consumers_beyond_the_partition_count_idle() -> None:
    topic = SimulatedTopic("t", 2, process_time=1.0)
    topic.produce(100)
    assert topic.consume(consumers=5) == 2


def test_fractional_capacity_carries_over_only_while_there_is_backlog() -> None:
    topic = SimulatedTopic("t", 1, process_time=4.0)
    topic.produce(3)
    assert [topic.consume(1) for _ in range(8)] == [0, 0, 0, 1, 0, 0, 0, 1]
    topic.consume(1)
    assert topic.total_lag() == 1


def test_fetch_reports_committed_and_log_end_offsets() -> None:
    topic = SimulatedTopic("orders", 2, process_time=1.0)
    topic.produce(4)
    topic.consume(1)
    offsets = topic.fetch()
    assert [(o.topic, o.partition, o.committed, o.latest) for o in offsets] == [
        ("orders", 0, 1, 2),
        ("orders", 1, 0, 2),
    ]


def test_pods_consume_only_after_the_start_delay_and_scale_in_at_once() -> None:
    clock = FakeClock(start=0.0)
    deployment = SimulatedDeployment(clock, pod_start_delay=3.0)
    deployment.set_replicas(2)
    assert (deployment.current_replicas(), deployment.ready_replicas()) == (2, 0)
    clock.advance(3)
    assert deployment.ready_replicas() == 2
    deployment.set_replicas(3)
    assert deployment.ready_replicas() == 2
    deployment.set_replicas(1)
    assert (deployment.current_replicas(), deployment.ready_replicas()) == (1, 1)


def test_invalid_world_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="partitions"):
        SimulatedTopic("t", 0, 1.0)
    with pytest.raises(ValueError, match="process time"):
        SimulatedTopic("t", 1, 0.0)
