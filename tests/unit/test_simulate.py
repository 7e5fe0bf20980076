"""`lagscale simulate`: the real ScalingLoop on a modelled topic reproduces KEDA's known behaviour."""

from __future__ import annotations

import dataclasses

import pytest

from kafkakit.errors import ConfigError
from lagscale.simulate.keys import KeySpread
from lagscale.simulate.load import parse_load
from lagscale.simulate.settings import simulated_trigger
from lagscale.simulate.simulation import Scenario, SimulationResult, compare, run
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import Fixes, parse_fixes
from scaler.keda.hpa import HpaController
from scaler.loop.config import ScalingConfig

CONFIG_FIELDS = ("spec", "controller", "fixes", "mode")


def scenario(load: str, **changes: object) -> Scenario:
    """A scenario with lagThreshold 10; ScalingConfig fields (spec, mode...) go into its config."""
    config_changes = {name: changes.pop(name) for name in CONFIG_FIELDS if name in changes}
    config = ScalingConfig(simulated_trigger({"lagThreshold": "10"}), **config_changes)  # type: ignore[arg-type]
    return dataclasses.replace(Scenario(load=parse_load(load), config=config), **changes)  # type: ignore[arg-type]


def replicas_over_time(result: SimulationResult) -> list[int]:
    return [sample.current for sample in result.timeline.samples]


def test_constant_load_below_capacity_keeps_one_replica() -> None:
    # 5 events/s against one consumer's 10 events/s: what it has not committed yet stays under
    # lagThreshold, so the HPA keeps the one pod (some events wait at the start, so that the
    # first poll finds the trigger active).
    result = run(scenario("constant:5", process_time=0.1, duration=600, initial_replicas=1, initial_lag=5))
    assert set(replicas_over_time(result)) == {1}
    assert result.summary.scaling_events == 0
    assert result.summary.final_lag <= 10


def test_burst_scales_to_the_partition_cap_and_back_to_zero() -> None:
    result = run(scenario("bursts:3000@900", partitions=6, process_time=0.1, duration=900))
    replicas = replicas_over_time(result)
    assert max(replicas) == 6
    assert replicas[-1] == 0
    assert result.summary.drain_seconds is not None
    assert any("capped at 6 partitions" in d.reason for d in result.timeline.decisions)


def test_scale_to_zero_waits_for_the_cooldown_after_the_last_active_poll() -> None:
    spec = ScaledObjectSpec(polling_interval=5, cooldown_period=60)
    controller = HpaController(downscale_stabilization_seconds=30)
    result = run(scenario("bursts:300@900", spec=spec, controller=controller, duration=400))
    last_active = max(d.time for d in result.timeline.decisions if d.path == "poll" and d.active)
    zero_at = next(s.time for s in result.timeline.samples if s.time > last_active and s.current == 0)
    # KEDA keeps lastActiveTime in whole seconds, so the poll cooldownPeriod later already scales in.
    assert zero_at - last_active >= 60
    assert zero_at - last_active <= 60 + 5


def keda_2908(fixes: Fixes | None = None, mode: str = "keda") -> SimulationResult:
    # 63 of 64 pods running, a backlog and more load than they can take: the capped metric
    # (64 x lagThreshold) is within the HPA's 10 % tolerance of 63 pods, so the 64th never comes.
    return run(
        scenario(
            "constant:100",
            partitions=64,
            process_time=1.0,
            initial_replicas=63,
            initial_lag=20_000,
            duration=600,
            fixes=fixes or Fixes(),
            mode=mode,
        )
    )


def test_keda_mode_with_64_partitions_stalls_at_63() -> None:
    result = keda_2908()
    assert set(replicas_over_time(result)) == {63}
    assert result.summary.final_lag > 20_000
    assert any("within tolerance: keep 63" in d.reason for d in result.timeline.decisions)


def test_reach_partition_count_fix_adds_the_64th_replica() -> None:
    result = keda_2908(Fixes(reach_partition_count=True))
    assert replicas_over_time(result)[-1] == 64
    assert max(replicas_over_time(result)) == 64


def test_direct_mode_drains_a_burst_faster_than_keda_mode() -> None:
    # Evenly spread: with the tutorial's keys the busiest partition sets the drain time in both.
    keda, direct = compare(
        scenario("bursts:3000@900", duration=900, keys=KeySpread("even")),
        [("keda", Fixes(), "keda"), ("direct", Fixes(), "direct")],
    )
    assert keda.summary.drain_seconds is not None
    assert direct.summary.drain_seconds is not None
    assert direct.summary.drain_seconds < keda.summary.drain_seconds
    assert direct.summary.replica_seconds < keda.summary.replica_seconds


def test_same_input_gives_the_same_result() -> None:
    first = run(scenario("steps:20@0,90@60,0@200", fixes=parse_fixes("all"), duration=500))
    second = run(scenario("steps:20@0,90@60,0@200", fixes=parse_fixes("all"), duration=500))
    assert first.as_dict() == second.as_dict()
    assert first.timeline.samples == second.timeline.samples


def test_every_produced_event_is_consumed_once_drained() -> None:
    result = run(scenario("bursts:1000@200", duration=800))
    assert result.events_produced == 4000
    assert result.events_consumed == result.events_produced - result.summary.final_lag


def test_pod_start_delay_postpones_consumption() -> None:
    result = run(scenario("bursts:100@900", pod_start_delay=20, duration=60))
    lags = [sample.total_lag for sample in result.timeline.samples]
    assert lags[19] == 100  # asked for at t=0, consuming from t=20
    assert lags[25] < 100


def test_a_scenario_needs_consumers_that_take_time() -> None:
    # The other numbers are checked by their flags' types (see test_simulate_cli).
    with pytest.raises(ConfigError, match="--process-time: must be > 0"):
        run(scenario("constant:1", process_time=0.0))
