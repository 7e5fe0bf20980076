"""KEDA keeps a ScaledObject's lastActiveTime in its status, with whole seconds: the cooldown runs
from the start of the second of the last active poll (seen with real KEDA in the lab: it scales in
at the poll exactly cooldownPeriod after the last active one)."""

from __future__ import annotations

from scaler.keda.executor import Executor, ScaledObjectSpec


def test_last_active_time_is_kept_in_whole_seconds() -> None:
    keda = Executor(ScaledObjectSpec(cooldown_period=20))
    keda.decide(active=True, errored=False, current=4, now=19.8)
    assert keda.last_active_time == 19.0
    assert keda.cooldown_ends() == 39.0


def test_the_poll_exactly_one_cooldown_after_the_last_active_one_scales_in() -> None:
    keda = Executor(ScaledObjectSpec(cooldown_period=20))
    keda.decide(active=True, errored=False, current=4, now=19.8)
    assert keda.decide(active=False, errored=False, current=4, now=37.8).replicas is None
    assert keda.decide(active=False, errored=False, current=4, now=39.8).replicas == 0
