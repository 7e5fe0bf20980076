"""scaler.grpc.scalers: the per-ScaledObject scaler cache of the external-scaler server, on fake time
with an in-memory offset source (the gRPC wire and the real broker are in tests/kafka)."""

from __future__ import annotations

import pytest

from scaler.errors import OffsetsError
from scaler.grpc.scalers import ScalerRegistry, ScalerSettings
from scaler.keda.fixes import Fixes
from scaler.keda.lag import PartitionOffsets
from scaler.keda.trigger import KafkaTrigger
from scaler.loop.clock import FakeClock

METADATA = {"bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "t", "lagThreshold": "10"}


class ScriptedSource:
    """Returns the offsets it is told to, or raises the error it is told to."""

    def __init__(self) -> None:
        self.offsets = [PartitionOffsets("t", 0, 0, 5)]
        self.error: OffsetsError | None = None
        self.fetches = 0

    def fetch(self) -> list[PartitionOffsets]:
        self.fetches += 1
        if self.error is not None:
            raise self.error
        return list(self.offsets)


class Factory:
    def __init__(self) -> None:
        self.built: list[ScriptedSource] = []

    def __call__(self, trigger: KafkaTrigger, fixes: Fixes, timeout: float) -> ScriptedSource:
        self.built.append(ScriptedSource())
        return self.built[-1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory() -> Factory:
    return Factory()


def registry(clock: FakeClock, factory: Factory, **settings: float) -> ScalerRegistry:
    return ScalerRegistry(ScalerSettings(**settings), clock, factory)  # type: ignore[arg-type]


def test_one_scaler_per_scaled_object_and_metadata(clock: FakeClock, factory: Factory) -> None:
    scalers = registry(clock, factory)
    first = scalers.scaler_for("ns", "a", METADATA)
    assert scalers.scaler_for("ns", "a", dict(METADATA)) is first
    assert scalers.scaler_for("other", "a", METADATA) is not first
    assert scalers.scaler_for("ns", "a", {**METADATA, "lagThreshold": "20"}) is not first
    assert (len(scalers), len(factory.built)) == (3, 3)


def test_calls_within_the_reuse_window_share_one_evaluation(clock: FakeClock, factory: Factory) -> None:
    scalers = registry(clock, factory, reuse_seconds=2.0)
    first = scalers.evaluate("ns", "a", METADATA)
    clock.advance(1.5)
    assert scalers.evaluate("ns", "a", METADATA) is first
    clock.advance(1.0)
    assert scalers.evaluate("ns", "a", METADATA) is not first
    assert factory.built[0].fetches == 2


def test_an_offsets_error_rebuilds_the_scaler_on_the_next_call(clock: FakeClock, factory: Factory) -> None:
    scalers = registry(clock, factory, reuse_seconds=0.0)
    scalers.evaluate("ns", "a", METADATA)
    factory.built[0].error = OffsetsError("broker gone", retriable=True)
    with pytest.raises(OffsetsError, match="broker gone"):
        scalers.evaluate("ns", "a", METADATA)
    assert len(scalers) == 0
    assert scalers.evaluate("ns", "a", METADATA).report.total_lag == 5
    assert len(factory.built) == 2  # new client, empty history: what KEDA does after an error


def test_idle_scalers_are_forgotten(clock: FakeClock, factory: Factory) -> None:
    scalers = registry(clock, factory, idle_seconds=60.0)
    scalers.evaluate("ns", "old", METADATA)
    clock.advance(61)
    scalers.evaluate("ns", "new", METADATA)
    assert len(scalers) == 1


def test_drain_mode_value_is_milli_rounded(clock: FakeClock, factory: Factory) -> None:
    scalers = registry(clock, factory, reuse_seconds=0.0)
    metadata = {**METADATA, "targetDrainSeconds": "60", "allowIdleConsumers": "true"}
    scalers.evaluate("ns", "a", metadata)
    source = factory.built[0]
    clock.advance(3)
    source.offsets = [PartitionOffsets("t", 0, 1, 5)]  # 1 record in 3 s, 4 left -> 12 s
    assert scalers.evaluate("ns", "a", metadata).metric_value == 12.0
    clock.advance(3)
    source.offsets = [PartitionOffsets("t", 0, 1, 6)]
    evaluation = scalers.evaluate("ns", "a", metadata)
    assert evaluation.drain is not None
    assert evaluation.drain.rate is not None
    assert evaluation.metric_value == round(5 / evaluation.drain.rate, 3)
    assert evaluation.metric_value != 5 / evaluation.drain.rate  # more digits than milli before rounding
