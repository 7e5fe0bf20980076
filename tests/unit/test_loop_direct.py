"""ScalingLoop in `direct` mode, the Prometheus view of decisions, and the dry-run target."""

from __future__ import annotations

from test_loop import START, Harness

from scaler.keda.executor import Fallback
from scaler.keda.pause import Pause
from scaler.loop.decision import Decision, PartitionLagSample
from scaler.loop.metrics import ScalerMetrics
from scaler.loop.replicas import DryRunTarget


def test_direct_jumps_to_proportional_replicas_at_once() -> None:
    harness = Harness(mode="direct", partitions=8, polling_interval=5)
    harness.source.set_total_lag(35)
    poll = harness.run_until(0)
    assert [(d.path, d.current, d.desired) for d in poll] == [("poll", 0, 4)]
    assert "ceil(35/10)=4" in poll[0].reason


def test_direct_never_calls_the_scaler_for_an_hpa() -> None:
    harness = Harness(mode="direct", partitions=8, polling_interval=5)
    harness.run_until(60)
    assert harness.source.calls == 13
    assert {d.path for d in harness.decisions} == {"poll"}


def test_direct_respects_partition_cap_and_max() -> None:
    capped = Harness(mode="direct", partitions=4, max_replica_count=10)
    capped.source.set_total_lag(1_000)
    assert capped.run_until(0)[0].desired == 4
    limited = Harness(
        mode="direct", partitions=4, max_replica_count=3, metadata={"allowIdleConsumers": "true"}
    )
    limited.source.set_total_lag(1_000)
    decision = limited.run_until(0)[0]
    assert decision.desired == 3
    assert "clamped to [1..3]" in decision.reason


def test_direct_stays_within_partitions_despite_keda_cap_quirk() -> None:
    harness = Harness(mode="direct", partitions=4)
    harness.source.set_total_lag(45)  # 45 // 10 = 4 is not > 4 partitions: KEDA leaves it uncapped
    decision = harness.run_until(0)[0]
    assert decision.metric == 45
    assert decision.desired == 4
    assert "ceil(45/10)=5 limited to 4 partitions" in decision.reason


def test_direct_follows_lag_down_then_cools_down_to_zero() -> None:
    harness = Harness(mode="direct", partitions=8, polling_interval=5, cooldown_period=10)
    harness.source.set_total_lag(60)
    harness.run_until(0)
    harness.source.set_total_lag(20)
    assert harness.run_until(5)[0].desired == 2  # active: straight down, no stabilisation window
    harness.source.set_total_lag(0)
    polls = harness.run_until(20)
    assert [(d.time - START, d.desired) for d in polls] == [(10, 1), (15, 1), (20, 0)]
    assert "cooldown remaining 5s" in polls[0].reason
    assert harness.target.history == [6, 2, 1, 0]


def test_direct_min_replicas_floor_while_warm() -> None:
    harness = Harness(mode="direct", polling_interval=5, cooldown_period=10, min_replica_count=2)
    harness.source.set_total_lag(1)
    assert harness.run_until(0)[0].desired == 2
    harness.source.set_total_lag(0)
    harness.run_until(60)
    assert harness.replicas == 2  # minReplicaCount > 0: never to zero


def test_direct_idle_replicas() -> None:
    harness = Harness(
        mode="direct",
        partitions=8,
        polling_interval=5,
        cooldown_period=10,
        min_replica_count=3,
        idle_replica_count=1,
    )
    harness.source.set_total_lag(2)
    harness.run_until(0)
    harness.source.set_total_lag(0)
    harness.run_until(30)
    assert harness.target.history == [3, 1]  # idle after cooldown, and it stays there
    harness.source.set_total_lag(50)
    assert harness.run_until(35)[0].desired == 5


def failing_direct(current: int, fallback: Fallback, **spec: object) -> Harness:
    """Direct mode, polling every 5 s, offsets never readable."""
    harness = Harness(mode="direct", current=current, polling_interval=5, fallback=fallback, **spec)
    harness.source.failures_left = 10_000
    return harness


def test_direct_errors_hold_then_fallback_sets_replicas() -> None:
    harness = failing_direct(2, Fallback(failure_threshold=2, replicas=5))
    decisions = harness.run_until(15)
    assert [d.desired for d in decisions] == [2, 2, 5, 5]
    assert "fallback active (3 failures > failureThreshold 2)" in decisions[2].reason


def test_direct_fallback_replicas_zero_scales_in_only_before_the_fallback_is_active() -> None:
    harness = failing_direct(2, Fallback(failure_threshold=1, replicas=0), cooldown_period=5)
    decisions = harness.run_until(20)
    # t=0: errored, fallback not yet active, replicas 0 -> KEDA's scale-in branch; from t=5 the active
    # fallback counts as active, so it never sits below max(min, 1).
    assert [d.desired for d in decisions] == [0, 1, 1, 1, 1]
    assert "clamped to [1..100] -> 1" in decisions[2].reason


def test_direct_fallback_is_clamped_to_min_replica_count() -> None:
    harness = failing_direct(4, Fallback(failure_threshold=0, replicas=1), min_replica_count=3)
    poll = harness.run_until(0)[0]
    assert (poll.current, poll.desired) == (4, 3)
    assert "fallback: 3 replicas (ceil(10/10)=1 clamped to [3..100] -> 3)" in poll.reason


def test_direct_paused_scale_out_holds_and_paused_scale_in_holds() -> None:
    busy = Harness(mode="direct", partitions=8, current=1, pause=Pause(scale_out=True))
    busy.source.set_total_lag(60)
    up = busy.run_until(0)[0]
    assert (up.desired, up.reason.split(":")[0]) == (1, "paused scale-out")
    idle = Harness(mode="direct", partitions=8, current=5, cooldown_period=0, pause=Pause(scale_in=True))
    down = idle.run_until(0)[0]
    assert (down.desired, down.reason.split(":")[0]) == (5, "paused scale-in")


def test_direct_paused_replicas_is_applied_once_then_held() -> None:
    harness = Harness(mode="direct", partitions=8, current=6, polling_interval=5, pause=Pause(replicas=2))
    harness.source.set_total_lag(80)
    first, reached = harness.run_until(5)
    assert (first.desired, first.reason) == (2, "paused-replicas: scale 6 -> 2, then hold")
    assert (reached.current, reached.desired) == (2, 2)
    harness.target.set_replicas(7)  # scaled by hand once it got there: a paused object leaves it
    held = harness.run_until(15)
    assert [d.desired for d in held] == [7, 7]
    assert held[0].reason.startswith("paused at 2 (paused-replicas): holding 7")


def _decision(**overrides: object) -> Decision:
    fields: dict[str, object] = {
        "time": START,
        "mode": "keda",
        "path": "poll",
        "active": True,
        "metric": 40.0,
        "total_lag": 57,
        "current": 1,
        "desired": 4,
        "reason": "test",
        "partitions": (PartitionLagSample("orders", 0, 50), PartitionLagSample("orders", 1, 7)),
    }
    fields.update(overrides)
    return Decision(**fields)  # type: ignore[arg-type]


def test_metrics_expose_lag_and_replicas() -> None:
    metrics = ScalerMetrics("orders-so")
    metrics.observe(_decision())
    text = metrics.render().decode()
    assert 'lagscale_partition_lag{partition="0",scaledobject="orders-so",topic="orders"} 50.0' in text
    assert 'lagscale_total_lag{scaledobject="orders-so"} 57.0' in text
    assert 'lagscale_metric_value{scaledobject="orders-so"} 40.0' in text
    assert 'lagscale_desired_replicas{scaledobject="orders-so"} 4.0' in text
    assert 'lagscale_evaluation_duration_seconds_count{scaledobject="orders-so"} 1.0' in text


def test_metrics_count_errors_and_keep_last_lag() -> None:
    metrics = ScalerMetrics("so")
    metrics.observe(_decision())
    metrics.observe(_decision(error="boom", metric=None, total_lag=None, partitions=()))
    text = metrics.render().decode()
    assert 'lagscale_evaluation_errors_total{scaledobject="so"} 1.0' in text
    assert 'lagscale_total_lag{scaledobject="so"} 57.0' in text


def test_health_turns_stale_without_decisions() -> None:
    assert ScalerMetrics("so", stale_after_seconds=60).health() == (True, "ok")
    assert not ScalerMetrics("so", stale_after_seconds=-1).health()[0]


def test_dry_run_target_remembers() -> None:
    target = DryRunTarget(2)
    target.set_replicas(5)
    target.set_replicas(0)
    assert target.current_replicas() == 0
    assert target.history == [5, 0]
