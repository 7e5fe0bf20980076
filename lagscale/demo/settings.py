"""What the local demo does, in one place: the scaling config it runs the loop with and the
simulation it predicts itself with both derive from these settings."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from kafkakit.errors import ConfigError, Problem
from lagscale.simulate.group_settings import measured_group, measured_process_start, measured_producer_start
from lagscale.simulate.keys import parse_keys
from lagscale.simulate.load import LoadProfile
from lagscale.simulate.simulation import Scenario
from scaler.cli.options import as_flag
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.hpa import HpaController
from scaler.keda.trigger import parse_trigger
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Mode

# The consumers read a new group from the beginning, so KEDA must count it that way too. The
# broker is the one the demo found: its source connects there, not through this metadata.
_TRIGGER_METADATA = {"bootstrapServers": "demo-broker:9092", "offsetResetPolicy": "earliest"}


@dataclass(frozen=True)
class DemoSettings:
    """What the demo does. Scaling fields use KEDA's names; defaults finish in about two minutes."""

    bootstrap: str
    partitions: int = 6
    burst: int = 2400
    rate: float = 20.0
    produce_seconds: float = 20.0
    process_time: float = 0.1
    lag_threshold: int = 10
    polling_interval: int = 2
    cooldown_period: int = 20
    hpa_downscale_stabilization: int = 10
    hpa_sync_period: int | None = None
    """None: every pollingInterval, to keep the demo short."""
    hpa_tolerance: float = 0.1
    group_protocol: str = "consumer"
    assignment_strategy: str = ""
    commit_interval: float = 1.0
    key: str = "random"
    """The producer's --key: how its events spread over the partitions."""
    later_bursts: tuple[tuple[float, int], ...] = ()
    """(seconds after the start, events): more bursts, each by a producer of its own (no flag:
    bench/bench_simulate.py uses it for a load of two bursts)."""
    mode: Mode = "keda"
    duration: float = 240.0
    out_dir: Path = Path("out")
    keep_topic: bool = False
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    """Suffix of the demo's topic and group, so two runs never share them."""

    @property
    def topic(self) -> str:
        return f"lagscale-demo-{self.run_id}"

    @property
    def group(self) -> str:
        return f"lagscale-demo-{self.run_id}"

    def scaling_config(self) -> ScalingConfig:
        """The trigger and ScaledObject the demo scales with, parsed once and checked by KEDA's
        rules, and KEDA's HPA with the demo's shorter stabilisation window and an HPA sync per
        poll. Raises ConfigError naming the flags, before any broker is looked for."""
        problems = []
        if self.process_time <= 0:
            problems.append(Problem("--process-time", f"must be > 0 seconds, got {self.process_time:g}"))
        if self.burst == 0 and (self.rate == 0 or self.produce_seconds == 0):
            problems.append(
                Problem("--burst", "nothing to consume: set --burst, or --rate with --produce-seconds")
            )
        metadata = {
            **_TRIGGER_METADATA,
            "consumerGroup": self.group,
            "topic": self.topic,
            "lagThreshold": str(self.lag_threshold),
        }
        spec = ScaledObjectSpec(polling_interval=self.polling_interval, cooldown_period=self.cooldown_period)
        trigger = None
        try:
            trigger = parse_trigger(metadata)
        except ConfigError as error:
            problems.extend(error.renamed(as_flag).problems)
        try:
            spec.validate()
        except ConfigError as error:
            problems.extend(error.renamed(as_flag).problems)
        if problems or trigger is None:
            raise ConfigError(problems, title="invalid demo settings")
        controller = HpaController(
            tolerance=self.hpa_tolerance,
            downscale_stabilization_seconds=self.hpa_downscale_stabilization,
            sync_period_seconds=self.hpa_sync_period or self.polling_interval,
        )
        return ScalingConfig(trigger, spec, controller=controller, mode=self.mode)

    def scenario(self, config: ScalingConfig) -> Scenario:
        """What `lagscale simulate` runs for this demo (`config` is scaling_config()): the same
        scaling config, load, partitions, keys and group protocol; the consumers' and the
        producer's start take the measured time of a `python -m consumer` / `producer` start."""
        start = measured_producer_start()
        bursts = tuple((at + start, count) for at, count in ((0.0, self.burst), *self.later_bursts) if count)
        rate = ((start, self.rate), (start + self.produce_seconds, 0.0))
        load = LoadProfile(
            description=f"burst {self.burst}, then {self.rate:g}/s for {self.produce_seconds:g} s"
            + "".join(f", {count} more at {at:g} s" for at, count in self.later_bursts),
            rate_steps=(rate,) if self.rate and self.produce_seconds else (),
            single_bursts=bursts,
        )
        group = measured_group(
            self.group_protocol, self.assignment_strategy, commit_interval=self.commit_interval
        )
        return Scenario(
            load=load,
            config=config,
            partitions=self.partitions,
            process_time=self.process_time,
            pod_start_delay=measured_process_start(),
            duration=math.ceil(self.duration),
            label="predicted by lagscale simulate",
            keys=parse_keys(self.key),
            group=group,
        )

    @property
    def total_events(self) -> int:
        return self.burst + math.floor(self.rate * self.produce_seconds)
