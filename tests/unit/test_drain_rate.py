"""scaler.grpc.drain_rate: settings parsing, the consume-rate EWMA on fake time, and the drain estimate."""

from __future__ import annotations

import math

import pytest

from kafkakit.errors import ConfigError
from scaler.grpc.drain_rate import (
    ConsumeRateMeter,
    DrainSettings,
    estimate_drain,
    parse_drain_settings,
)
from scaler.grpc.scalers import parse_metadata
from scaler.keda.lag import NO_COMMIT, PartitionOffsets
from scaler.loop.clock import FakeClock

SETTINGS = DrainSettings(target_drain_seconds=60.0, rate_window_seconds=30.0)


def committed(*offsets: int, topic: str = "t") -> list[PartitionOffsets]:
    return [PartitionOffsets(topic, index, offset, 10_000) for index, offset in enumerate(offsets)]


def test_settings_absent_means_lag_target() -> None:
    assert parse_drain_settings({"lagThreshold": "5"}) == (None, [])


def test_settings_parsed_with_default_and_explicit_window() -> None:
    assert parse_drain_settings({"targetDrainSeconds": "60"}) == (DrainSettings(60.0, 60.0), [])
    assert parse_drain_settings({"targetDrainSeconds": " 90.5 ", "drainRateWindowSeconds": "15"}) == (
        DrainSettings(90.5, 15.0),
        [],
    )


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_settings_reject_non_positive_or_non_numbers(value: str) -> None:
    settings, problems = parse_drain_settings({"targetDrainSeconds": value})
    assert settings is None
    assert [problem.keda for problem in problems] == [
        f'"targetDrainSeconds" must be a positive number of seconds, got "{value}"'
    ]


def test_window_without_target_is_a_problem() -> None:
    assert [problem.keda for problem in parse_drain_settings({"drainRateWindowSeconds": "10"})[1]] == [
        '"drainRateWindowSeconds" only applies with "targetDrainSeconds": set both or neither'
    ]


def test_rate_unknown_until_two_samples_a_second_apart() -> None:
    clock = FakeClock()
    meter = ConsumeRateMeter(clock, window_seconds=30.0)
    assert meter.observe(committed(0, 0)) is None
    clock.advance(0.5)  # KEDA's GetMetrics + IsActive pair: too close to say anything
    assert meter.observe(committed(50, 50)) is None
    clock.advance(10)
    # measured from the first sample: 200 records in 10.5 s
    assert meter.observe(committed(100, 100)) == pytest.approx(200 / 10.5)


def test_rate_is_smoothed_with_time_weighted_ewma() -> None:
    clock = FakeClock()
    meter = ConsumeRateMeter(clock, window_seconds=30.0)
    meter.observe(committed(0))
    clock.advance(10)
    assert meter.observe(committed(100)) == pytest.approx(10.0)
    clock.advance(10)
    weight = 1 - math.exp(-10 / 30)
    assert meter.observe(committed(400)) == pytest.approx(10.0 + weight * (30.0 - 10.0))


def test_rate_decays_towards_zero_when_commits_stop() -> None:
    clock = FakeClock()
    meter = ConsumeRateMeter(clock, window_seconds=10.0)
    meter.observe(committed(0))
    clock.advance(10)
    meter.observe(committed(1000))
    for _ in range(10):
        clock.advance(10)
        rate = meter.observe(committed(1000))
    assert rate is not None
    assert 0 <= rate < 0.01


def test_offsets_going_back_forget_the_rate() -> None:
    clock = FakeClock()
    meter = ConsumeRateMeter(clock)
    meter.observe(committed(500))
    clock.advance(5)
    assert meter.observe(committed(600)) == pytest.approx(20.0)
    clock.advance(5)
    assert meter.observe(committed(10)) is None  # group reset / topic recreated
    clock.advance(5)
    assert meter.observe(committed(60)) == pytest.approx(10.0)


def test_uncommitted_and_new_partitions_do_not_count() -> None:
    clock = FakeClock()
    meter = ConsumeRateMeter(clock)
    meter.observe([*committed(100), PartitionOffsets("t", 1, NO_COMMIT, 50)])
    clock.advance(10)
    offsets = [*committed(200), PartitionOffsets("t", 1, 5_000, 9_000)]  # p1's first commit
    assert meter.observe(offsets) == pytest.approx(10.0)


def test_estimate_is_lag_over_rate() -> None:
    estimate = estimate_drain(1200, 1200, 100, 10.0, SETTINGS)
    assert (estimate.metric, estimate.drain_seconds, estimate.fell_back) == (120.0, 120.0, False)
    assert "drains in 120.0s" in estimate.reason


def test_no_lag_is_zero_seconds_whatever_the_rate() -> None:
    for rate in (None, 0.0, 5.0):
        estimate = estimate_drain(0, 0, 100, rate, SETTINGS)
        assert (estimate.metric, estimate.fell_back) == (0.0, False)


@pytest.mark.parametrize(("rate", "words"), [(None, "not measured yet"), (0.0, "zero")])
def test_lag_without_a_rate_falls_back_to_the_lag_metric(rate: float | None, words: str) -> None:
    # lag metric 250 with lagThreshold 100 -> 2.5 thresholds -> 2.5 x 60 s: same ratio as KEDA's target.
    estimate = estimate_drain(300, 250, 100, rate, SETTINGS)
    assert estimate.fell_back
    assert estimate.metric == pytest.approx(150.0)
    assert estimate.drain_seconds is None
    assert words in estimate.reason
    assert "fell back to KEDA's lag metric (250)" in estimate.reason


def test_metadata_names_metric_and_target_for_both_modes() -> None:
    base = {"bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "orders.v1", "lagThreshold": "7"}
    lag_mode = parse_metadata({**base, "scalerAddress": "lagscale:6000"}, {})
    assert (lag_mode.metric_name, lag_mode.target) == ("kafka-orders-v1", 7.0)
    drain_mode = parse_metadata({**base, "targetDrainSeconds": "45"}, {})
    assert (drain_mode.metric_name, drain_mode.target) == ("kafka-orders-v1-drain-seconds", 45.0)


def test_metadata_problems_are_all_listed() -> None:
    bad = {"bootstrapServers": "k:9092", "lagThreshold": "x", "targetDrainSeconds": "-1"}
    with pytest.raises(ConfigError) as caught:
        parse_metadata(bad, {})
    problems = caught.value.keda_problems
    assert any('"consumerGroup"' in problem for problem in problems)
    assert any('"lagThreshold"' in problem for problem in problems)
    assert any('"targetDrainSeconds"' in problem for problem in problems)


def test_from_env_keys_carry_the_values_keda_resolved() -> None:
    config = parse_metadata({"bootstrapServersFromEnv": "broker:9092", "consumerGroupFromEnv": "g1"}, {})
    assert (config.trigger.bootstrap_servers, config.trigger.consumer_group) == (("broker:9092",), "g1")
