"""ScalingLoop in `keda` mode: KEDA's poll/executor and the HPA sync, with fake time and offsets."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from kafkakit.errors import BrokerError
from scaler.keda.behavior import parse_behavior
from scaler.keda.executor import Fallback, ScaledObjectSpec
from scaler.keda.hpa import HpaController
from scaler.keda.lag import PartitionOffsets
from scaler.keda.pause import NO_PAUSE, Pause
from scaler.keda.trigger import parse_trigger
from scaler.loop.clock import FakeClock
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision, Mode
from scaler.loop.offsets import FakeOffsetSource
from scaler.loop.replicas import DryRunTarget
from scaler.loop.scaling_loop import ScalingLoop

THRESHOLD = 10
START = 1_000.0


class Harness:
    """A loop wired to fakes, recording every decision."""

    def __init__(
        self,
        *,
        partitions: int = 4,
        current: int = 0,
        mode: Mode = "keda",
        metadata: dict[str, str] | None = None,
        pause: Pause = NO_PAUSE,
        created_ago: float | None = None,
        **spec_fields: object,
    ) -> None:
        trigger = parse_trigger(
            {
                "bootstrapServers": "fake:9092",
                "consumerGroup": "workers",
                "topic": "orders",
                "lagThreshold": str(THRESHOLD),
                **(metadata or {}),
            }
        )
        self.spec = ScaledObjectSpec(**spec_fields).validate()  # type: ignore[arg-type]
        # The HPA derives from it, as KEDA builds it (paused-scale-in/-out disable a direction).
        self.config = ScalingConfig(trigger, self.spec, pause=pause, mode=mode)
        self.clock = FakeClock(START)
        self.source = FakeOffsetSource(partitions)
        self.target = DryRunTarget(current)
        self.decisions: list[Decision] = []
        self.loop = ScalingLoop(
            self.config,
            self.source,
            self.target,
            clock=self.clock,
            on_decision=self.decisions.append,
            created_ago=created_ago,
        )

    def run_until(self, seconds: float) -> list[Decision]:
        """Step until fake time reaches START + seconds; returns the decisions made meanwhile."""
        first = len(self.decisions)
        while self.loop.next_due() <= START + seconds:
            self.loop.step()
        return self.decisions[first:]

    def at(self, seconds: float) -> float:
        return START + seconds

    @property
    def replicas(self) -> int:
        return self.target.current_replicas()


def test_no_lag_keeps_zero_and_hpa_stays_disabled() -> None:
    harness = Harness(polling_interval=30)
    decisions = harness.run_until(60)
    assert [d.path for d in decisions] == ["poll", "poll", "poll"]  # HPA never asks at 0 replicas
    assert all(d.desired == 0 and not d.active for d in decisions)
    assert harness.source.calls == 3


def test_activation_scales_zero_to_one_at_the_next_poll() -> None:
    harness = Harness(polling_interval=30)
    harness.run_until(0)
    harness.source.set_total_lag(5)
    decisions = harness.run_until(30)
    activation = next(d for d in decisions if d.path == "poll" and d.active)
    assert activation.time == harness.at(30)
    assert (activation.current, activation.desired) == (0, 1)
    assert activation.reason.startswith("activated")
    assert harness.target.history == [1]


def test_activation_goes_to_min_replica_count_when_set() -> None:
    harness = Harness(polling_interval=30, min_replica_count=3)
    harness.source.set_total_lag(1)
    poll = harness.run_until(0)[0]
    assert (poll.current, poll.desired) == (0, 3)


def test_activation_threshold_is_strict() -> None:
    harness = Harness(polling_interval=30, metadata={"activationLagThreshold": "8"})
    harness.source.set_total_lag(8)
    assert harness.run_until(0)[0].desired == 0
    harness.source.set_total_lag(9)
    assert harness.run_until(30)[0].desired == 1


def test_hpa_scale_up_is_limited_to_double_or_four_per_sync() -> None:
    harness = Harness(partitions=200, polling_interval=30, max_replica_count=100)
    harness.source.set_total_lag(10_000)  # wants 100 replicas at threshold 10
    harness.run_until(90)
    assert harness.target.history == [1, 4, 8, 16, 32, 64, 100]
    hpa_steps = [d for d in harness.decisions if d.path == "hpa" and d.changed]
    assert [d.time - START for d in hpa_steps] == [0, 15, 30, 45, 60, 75]
    assert "ScaleUpLimit" in hpa_steps[0].reason
    assert "TooManyReplicas" in hpa_steps[-1].reason


class _LateClock(FakeClock):
    """Fake time whose waits overshoot by the amounts listed, in turn (a thread waking up late)."""

    def __init__(self, overshoots: list[float]) -> None:
        super().__init__(START)
        self.overshoots = overshoots

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        return super().wait(seconds + (self.overshoots.pop(0) if self.overshoots else 0.0), stop)


def test_the_hpa_sync_is_requeued_one_sync_period_after_it_ran() -> None:
    """kube-controller-manager requeues an HPA one sync period after its last sync, so a scale-up
    under a 15 s policy period is always allowed again at the third 5 s sync after it. A fixed-rate
    schedule would hold it one sync longer whenever the sync that scaled had woken up late."""
    trigger = parse_trigger(
        {"bootstrapServers": "f:9092", "consumerGroup": "g", "topic": "t", "lagThreshold": "10"}
    )
    up = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    config = ScalingConfig(
        trigger,
        ScaledObjectSpec(polling_interval=30).validate(),
        behavior=parse_behavior({"scaleUp": up}),
        controller=HpaController(sync_period_seconds=5),
    )
    clock, source, target = _LateClock([0.0, 0.3]), FakeOffsetSource(8), DryRunTarget(1)
    decisions: list[Decision] = []
    loop = ScalingLoop(config, source, target, clock=clock, on_decision=decisions.append)
    source.set_total_lag(10)
    loop.step()  # the poll and the first sync at 0: ratio 1, holds 1
    source.set_total_lag(80)  # wants 8
    while clock.now() < START + 30:
        loop.step()
    steps = [(round(d.time - START, 1), d.desired) for d in decisions if d.path == "hpa" and d.changed]
    assert steps == [(5.3, 2), (20.3, 4)]  # the second sync woke up 0.3 s late; the 3rd one after


def test_metric_is_capped_at_partition_count() -> None:
    harness = Harness(partitions=4, polling_interval=30, max_replica_count=50)
    harness.source.set_total_lag(1_000)
    harness.run_until(60)
    assert harness.replicas == 4
    capped = [d for d in harness.decisions if d.path == "hpa"][-1]
    assert capped.metric == 40
    assert "capped at 4 partitions" in capped.reason


def test_hpa_tolerance_keeps_replicas_inside_ten_percent() -> None:
    harness = Harness(partitions=20, current=10, polling_interval=30)
    harness.source.set_total_lag(109)  # ratio 1.09: inside the dead band
    decisions = harness.run_until(15)
    hpa = [d for d in decisions if d.path == "hpa"]
    assert all(d.desired == 10 for d in hpa)
    assert "within tolerance" in hpa[0].reason
    harness.source.set_total_lag(111)  # ratio 1.11: outside, proposal ceil(11.1) = 12
    outside = next(d for d in harness.run_until(30) if d.path == "hpa")
    assert outside.desired == 12
    assert "outside tolerance" in outside.reason


def test_hpa_scale_down_waits_for_stabilisation_window() -> None:
    harness = Harness(partitions=20, current=8, polling_interval=30, cooldown_period=3_000)
    harness.source.set_total_lag(80)
    harness.run_until(0)
    harness.source.set_total_lag(20)  # wants 2, but the window remembers 8 for 300 s
    harness.run_until(299)
    assert harness.replicas == 8
    harness.run_until(315)
    assert harness.replicas == 2


def test_cooldown_to_zero_happens_at_first_poll_after_cooldown_period() -> None:
    harness = Harness(polling_interval=10, cooldown_period=30)
    harness.source.set_total_lag(5)
    harness.run_until(0)  # last active poll at t=0
    harness.source.set_total_lag(0)
    polls = [d for d in harness.run_until(40) if d.path == "poll"]
    assert [(d.time - START, d.desired) for d in polls] == [(10, 1), (20, 1), (30, 1), (40, 0)]
    assert "cooldown remaining 20s" in polls[0].reason
    assert "cooldown remaining 0s" in polls[2].reason  # lastActive + cooldown < now is strict
    assert polls[3].reason.startswith("inactive after cooldown")


def test_idle_replicas_between_activity() -> None:
    # KEDA documents 0 as the only working idleReplicaCount: at any other value the HPA would
    # lift the workload back to minReplicas (the direct-mode tests cover idle 1).
    harness = Harness(polling_interval=10, cooldown_period=20, min_replica_count=2, idle_replica_count=0)
    harness.source.set_total_lag(3)
    assert harness.run_until(0)[0].desired == 2
    harness.source.set_total_lag(0)
    went_idle = [d for d in harness.run_until(30) if d.changed]
    assert [(d.time - START, d.desired) for d in went_idle] == [(30, 0)]
    assert "inactive after cooldown: scale 2 -> 0" in went_idle[0].reason
    harness.source.set_total_lag(3)
    reactivation = next(d for d in harness.run_until(40) if d.path == "poll")
    assert (reactivation.current, reactivation.desired) == (0, 2)


def test_errors_hold_replicas_and_never_scale_to_zero() -> None:
    harness = Harness(current=3, polling_interval=10, cooldown_period=20)
    harness.source.failures_left = 10_000
    decisions = harness.run_until(120)
    assert decisions
    assert all(d.error and d.desired == 3 for d in decisions)
    assert harness.target.history == []
    assert "fake:9092 did not answer" in decisions[0].reason
    assert harness.source.calls == 2 * len(decisions)  # KEDA rebuilds the scaler and retries once


def test_a_client_that_cannot_connect_is_not_built_twice_in_one_evaluation() -> None:
    # The connect is KEDA's rebuild: when it fails, KEDA returns the error without a second call,
    # so one evaluation waits for an absent broker once (`scale --once` within its --timeout).
    harness = Harness(current=3, polling_interval=10)
    harness.source.failures_left = 10_000
    harness.source.failure = BrokerError("cannot reach Kafka at fake:9092 within 10s")
    decisions = harness.run_until(60)
    assert all(d.error and d.desired == 3 for d in decisions)
    assert "cannot reach Kafka" in decisions[0].reason
    assert harness.source.calls == len(decisions)
    assert harness.source.resets == len(decisions)  # the next evaluation connects afresh


def test_one_failure_is_hidden_by_the_retry() -> None:
    harness = Harness(polling_interval=10)
    harness.source.failures_left = 1
    harness.source.set_total_lag(5)
    poll = harness.run_until(0)[0]
    assert poll.error is None
    assert poll.desired == 1


def test_error_resets_persistent_lag_history() -> None:
    harness = Harness(current=1, polling_interval=10, metadata={"excludePersistentLag": "true"})
    harness.source.set_total_lag(40)
    first = harness.run_until(0)
    # The poll sees the offsets first and counts them; the HPA's second call finds them unchanged.
    assert [(d.path, d.metric) for d in first] == [("poll", 40), ("hpa", 0)]
    assert [d.metric for d in harness.run_until(10)] == [0]
    harness.source.failures_left = 2
    assert harness.run_until(15)[0].error is not None
    recovered = harness.run_until(20)[0]
    assert recovered.metric == 40  # history rebuilt: persistent lag counted again


def test_recovery_after_errors_resumes_scaling() -> None:
    harness = Harness(current=1, partitions=8, polling_interval=10)
    harness.source.failures_left = 4
    assert all(d.error for d in harness.run_until(0))
    harness.source.set_total_lag(80)
    decisions = harness.run_until(15)
    assert decisions[-1].error is None
    assert harness.replicas > 1


def test_fallback_replicas_after_failure_threshold() -> None:
    harness = Harness(
        current=2,
        partitions=20,
        polling_interval=30,
        fallback=Fallback(failure_threshold=3, replicas=6),
    )
    harness.source.failures_left = 10_000
    decisions = harness.run_until(90)
    first_fallback = next(d for d in decisions if "fallback active" in d.reason)
    # poll t=0 (1 failure), hpa t=0 (2), hpa t=15 (3), poll t=30 (4 > 3: fallback)
    assert first_fallback.time == harness.at(30)
    assert all(d.desired == 2 for d in decisions if d.time < first_fallback.time)
    assert harness.replicas == 6
    assert harness.target.history == [4, 6]  # the HPA still applies its scale-up limit


def test_fallback_activates_a_workload_at_zero() -> None:
    harness = Harness(polling_interval=10, fallback=Fallback(failure_threshold=0, replicas=3))
    harness.source.failures_left = 10_000
    harness.run_until(10)
    assert harness.target.history[0] == 1  # fallback counts as active: KEDA does 0 -> 1
    harness.run_until(30)
    assert harness.replicas == 3


def test_step_returns_nothing_when_stopped() -> None:
    harness = Harness()
    stop = threading.Event()
    stop.set()
    assert harness.loop.step(stop) == []
    assert harness.source.calls == 0


def test_run_stops_on_event() -> None:
    harness = Harness(polling_interval=10)
    stop = threading.Event()

    def stop_after_three(decision: Decision) -> None:
        harness.decisions.append(decision)
        if len(harness.decisions) >= 3:
            stop.set()

    harness.loop.on_decision = stop_after_three
    harness.loop.run(stop)
    assert len(harness.decisions) == 3
    assert harness.clock.now() == harness.at(20)


def test_use_cached_metrics_skips_the_second_call() -> None:
    harness = Harness(current=1, polling_interval=30)
    harness.loop.use_cached_metrics = True
    harness.run_until(0)
    assert harness.source.calls == 1


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="mode must be one of keda, direct"):
        Harness(mode="fast")  # type: ignore[arg-type]


def test_decision_log_line_explains(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(polling_interval=30)
    harness.source.set_total_lag(5)
    with caplog.at_level("INFO", logger="scaler.loop"):
        harness.run_until(0)
    line = next(r for r in caplog.records if r.getMessage() == "decision")
    fields = line.__dict__["kv_fields"]
    assert fields["desired"] == 1
    assert fields["active"] == "true"
    assert fields["reason"].startswith("activated")


def test_run_survives_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(polling_interval=10)
    stop = threading.Event()
    real_fetch = harness.source.fetch
    calls = {"n": 0}

    def flaky_fetch() -> list[PartitionOffsets]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return real_fetch()

    def stop_after_two(decision: Decision) -> None:
        harness.decisions.append(decision)
        if len(harness.decisions) >= 2:
            stop.set()

    harness.source.fetch = flaky_fetch  # type: ignore[method-assign]
    harness.loop.on_decision = stop_after_two
    with caplog.at_level("ERROR", logger="scaler.loop"):
        harness.loop.run(stop)
    assert [r.getMessage() for r in caplog.records if r.name == "scaler.loop"] == ["step_failed"]
    assert [d.time - START for d in harness.decisions] == [10, 20]  # the schedule kept going


# Pause annotations (semantics section 3.4): the reason says "paused ...".


def test_paused_holds_replicas_and_the_hpa_is_gone() -> None:
    harness = Harness(partitions=8, current=3, polling_interval=10, pause=Pause(paused=True))
    harness.source.set_total_lag(50)
    decisions = harness.run_until(30)
    assert {d.path for d in decisions} == {"poll"}  # KEDA deletes the HPA of a paused object
    assert all(d.desired == 3 for d in decisions)
    assert decisions[0].reason == "paused (autoscaling.keda.sh/paused): holding 3"
    assert harness.target.history == []


def test_paused_replicas_scales_to_the_count_once_then_holds() -> None:
    harness = Harness(partitions=8, current=5, polling_interval=10, pause=Pause(paused=True, replicas=0))
    harness.source.set_total_lag(50)
    decisions = harness.run_until(20)
    assert [(d.current, d.desired) for d in decisions] == [(5, 0), (0, 0), (0, 0)]
    assert decisions[0].reason == "paused-replicas: scale 5 -> 0, then hold"
    assert decisions[1].reason == "paused at 0 (paused-replicas): holding 0"


def test_paused_scale_out_skips_the_activation() -> None:
    harness = Harness(polling_interval=10, pause=Pause(scale_out=True))
    harness.source.set_total_lag(30)
    poll = harness.run_until(0)[0]
    assert (poll.active, poll.desired) == (True, 0)
    assert poll.reason == "paused scale-out: not activating 0 -> 1"


def test_paused_scale_in_skips_the_scale_in() -> None:
    harness = Harness(current=2, polling_interval=10, cooldown_period=0, pause=Pause(scale_in=True))
    decisions = harness.run_until(20)
    assert all(d.desired == 2 for d in decisions)  # the HPA's scale-down is Disabled too
    assert decisions[0].reason == "paused scale-in: not scaling 2 -> 0"


# The first inactive poll of a never-active object (initialCooldownPeriod since creation).


def test_never_active_object_scales_in_at_the_first_poll() -> None:
    harness = Harness(current=3)  # KEDA defaults: initialCooldownPeriod 0
    poll = harness.run_until(0)[0]
    assert (poll.current, poll.desired) == (3, 0)
    assert poll.reason == "inactive after cooldown: scale 3 -> 0"


def test_creation_timestamp_starts_the_initial_cooldown() -> None:
    harness = Harness(current=3, polling_interval=30, initial_cooldown_period=60, created_ago=50)
    polls = [d for d in harness.run_until(30) if d.path == "poll"]
    assert [d.desired for d in polls] == [3, 0]
    assert "cooldown remaining 10s" in polls[0].reason  # created 50 s ago, 60 s initial cooldown


# Errors: the rebuild and the fallback counter (section 3.6).


def test_a_failed_call_rebuilds_the_offset_source() -> None:
    harness = Harness(current=1, polling_interval=30)
    harness.source.failures_left = 3
    harness.run_until(0)  # poll: fail, rebuild, fail, rebuild; HPA: fail, rebuild, retry succeeds
    assert harness.source.resets == 3


def test_fallback_counter_advances_on_both_the_poll_and_the_hpa_path() -> None:
    # Pinned: every failed round counts, whichever path made the call (docs/keda-semantics.md).
    harness = Harness(current=2, polling_interval=30, fallback=Fallback(failure_threshold=5, replicas=4))
    harness.source.failures_left = 10_000
    decisions = harness.run_until(15)
    assert [(d.path, d.time - START) for d in decisions] == [("poll", 0), ("hpa", 0), ("hpa", 15)]
    assert [d.reason.split(")")[0] for d in decisions] == [f"error ({n} consecutive" for n in (1, 2, 3)]
    harness.source.failures_left = 0
    assert harness.run_until(30)[0].error is None
    assert harness.loop.calls.failures == 0  # a success resets the count


def test_the_loop_does_not_import_the_kafka_client() -> None:
    probe = "import sys, scaler.loop.scaling_loop; print('confluent_kafka' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
