"""The local demo: the real ScalingLoop scales real consumer processes on a real broker.

It creates its own topic (random suffix), writes a burst with the producer, and lets the loop
scale `python -m consumer` processes 0 -> N -> 0. Everything it starts (consumers, producer) is
stopped by PID when it ends, also on Ctrl+C, and the topic is deleted unless asked to keep it.
"""

from __future__ import annotations

import json
import math
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from confluent_kafka.admin import AdminClient

from kafkakit.broker import BrokerError, connect_admin, ensure_topic
from kafkakit.profiles import build_profile
from lagscale.demo.effects import (
    BrokerUnreachableError,
    TopicNotReadyError,
    delete_topics,
    group_members,
    require_listening,
    start_producer,
    stop_producer,
    wait_for_leaders,
)
from lagscale.demo.state import DemoObserver, DemoState
from lagscale.plots.png import write_html, write_png
from lagscale.timeline import RunSummary, Timeline
from scaler.kafka.offsets import KafkaOffsetSource
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.lag import LagCalculator
from scaler.keda.scaledobject import hpa_spec_for
from scaler.keda.trigger import KafkaTrigger, parse_trigger
from scaler.loop.clock import SystemClock
from scaler.loop.scaling_loop import Decision, ScalingLoop
from scaler.targets.processes import ProcessTarget

Outcome = Literal["completed", "timed_out", "interrupted", "failed"]


class DemoError(RuntimeError):
    """The demo cannot run (e.g. no broker); the message says what to do."""


class DemoSettingsError(ValueError):
    """A demo option is out of range; the message says which one and what is allowed."""


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
    downscale_stabilization: int = 10
    mode: Literal["keda", "direct"] = "keda"
    duration: float = 240.0
    out_dir: Path = Path("out")
    keep_topic: bool = False

    def validate(self) -> DemoSettings:
        problems = [
            f"--{name.replace('_', '-')} must be {rule}, got {value:g}"
            for name, value, rule, ok in (
                ("partitions", self.partitions, "at least 1", self.partitions >= 1),
                ("burst", self.burst, ">= 0", self.burst >= 0),
                ("rate", self.rate, ">= 0", self.rate >= 0),
                ("produce_seconds", self.produce_seconds, ">= 0", self.produce_seconds >= 0),
                ("process_time", self.process_time, "> 0", self.process_time > 0),
                ("lag_threshold", self.lag_threshold, "at least 1", self.lag_threshold >= 1),
                ("polling_interval", self.polling_interval, "at least 1", self.polling_interval >= 1),
                ("cooldown_period", self.cooldown_period, ">= 0", self.cooldown_period >= 0),
                (
                    "downscale_stabilization",
                    self.downscale_stabilization,
                    ">= 0",
                    self.downscale_stabilization >= 0,
                ),
                ("duration", self.duration, "> 0", self.duration > 0),
            )
            if not ok
        ]
        if self.burst == 0 and (self.rate == 0 or self.produce_seconds == 0):
            problems.append("nothing to consume: set --burst, or --rate with --produce-seconds")
        if problems:
            raise DemoSettingsError("; ".join(problems))
        return self

    @property
    def total_events(self) -> int:
        return self.burst + math.floor(self.rate * self.produce_seconds)


@dataclass
class DemoResult:
    outcome: Outcome
    topic: str
    group: str
    timeline: Timeline
    summary: RunSummary
    files: list[Path] = field(default_factory=list)
    error: str = ""

    @property
    def replica_path(self) -> list[int]:
        """The replica counts asked for, with repeats collapsed: e.g. [0, 1, 4, 6, 1, 0]."""
        path = [self.timeline.initial_replicas]
        for sample in self.timeline.samples:
            if sample.current != path[-1]:
                path.append(sample.current)
        return path


@dataclass
class _Run:
    """The parts one demo run started; `stop()` ends them all, by PID for processes."""

    admin: AdminClient
    topic: str
    group: str
    trigger: KafkaTrigger
    target: ProcessTarget
    source: KafkaOffsetSource
    loop_stop: threading.Event = field(default_factory=threading.Event)
    loop_thread: threading.Thread | None = None
    loop_error: list[BaseException] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    producer: subprocess.Popen[bytes] | None = None

    def stop(self, keep_topic: bool) -> None:
        self.loop_stop.set()
        if self.loop_thread is not None:
            self.loop_thread.join(timeout=30)
        self.target.close()
        stop_producer(self.producer)
        self.source.close()
        if not keep_topic:
            delete_topics(self.admin, [self.topic, f"{self.topic}.dlq"])


def run_demo(settings: DemoSettings, observer: DemoObserver) -> DemoResult:
    """Run the demo to its end (or timeout / Ctrl+C); returns what happened, files written."""
    settings.validate()
    suffix = secrets.token_hex(3)
    topic, group = f"lagscale-demo-{suffix}", f"lagscale-demo-{suffix}"
    log_dir = settings.out_dir / "logs" / topic
    run = _start(settings, topic, group, log_dir)
    observer.started(topic, group)
    clock = SystemClock()
    state = DemoState(settings.partitions, settings.lag_threshold, started=clock.now())
    outcome: Outcome = "failed"
    try:
        _start_loop(run, settings, clock, state, observer)
        run.producer = start_producer(_producer_argv(settings, topic), log_dir / "producer.log")
        outcome = _watch(run, settings, state, observer, clock)
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        observer.stopping(outcome)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not skip cleanup
        try:
            run.stop(settings.keep_topic)
        finally:
            signal.signal(signal.SIGINT, previous)
    if run.loop_error:
        run.failures.append(f"scaling loop failed: {run.loop_error[0]}")
    error = "; ".join(run.failures)
    timeline = state.timeline(f"local demo ({settings.mode} mode)")
    result = DemoResult(outcome, topic, group, timeline, timeline.summary(), error=error)
    result.files = _write_outputs(result, settings)
    return result


def _start(settings: DemoSettings, topic: str, group: str, log_dir: Path) -> _Run:
    try:
        profile = build_profile("plaintext", bootstrap=settings.bootstrap)
        require_listening(profile.bootstrap)
        admin = connect_admin(profile, timeout=10)
        ensure_topic(admin, topic, create=True, partitions=settings.partitions)
        wait_for_leaders(admin, topic, settings.partitions)
    except (BrokerError, BrokerUnreachableError, TopicNotReadyError, ValueError) as error:
        raise DemoError(f"{error}; the local broker starts with scripts/kafka up") from None
    metadata = {
        "bootstrapServers": settings.bootstrap,
        "consumerGroup": group,
        "topic": topic,
        "lagThreshold": str(settings.lag_threshold),
        # The consumers read a new group from the beginning, so KEDA must count it that way too.
        "offsetResetPolicy": "earliest",
    }
    trigger = parse_trigger(metadata)
    consumer_args = [
        "--topic", topic, "--group", group, "--bootstrap", settings.bootstrap,
        "--process-time", f"{settings.process_time:g}", "--metrics-port", "0",
    ]  # fmt: skip
    # Through child_guard, consumers also stop if this process dies without cleaning up.
    guarded = [sys.executable, "-m", "lagscale.demo.child_guard", "consumer"]
    target = ProcessTarget(consumer_args, command=guarded, log_dir=log_dir, stop_grace_seconds=10)
    return _Run(admin, topic, group, trigger, target, KafkaOffsetSource.for_trigger(trigger))


def _start_loop(
    run: _Run, settings: DemoSettings, clock: SystemClock, state: DemoState, observer: DemoObserver
) -> None:
    spec = ScaledObjectSpec(
        polling_interval=settings.polling_interval, cooldown_period=settings.cooldown_period
    ).validate()
    # KEDA's HPA, with the demo's shorter stabilisation window and an HPA sync per poll.
    hpa = replace(
        hpa_spec_for(spec, "AverageValue", settings.lag_threshold),
        downscale_stabilization_seconds=settings.downscale_stabilization,
        sync_period_seconds=settings.polling_interval,
    )

    def on_decision(decision: Decision) -> None:
        observer.decision(state.record(decision, run.target.current_replicas()))

    loop = ScalingLoop(
        run.source, LagCalculator(run.trigger), run.target, spec, hpa,
        mode=settings.mode, clock=clock, on_decision=on_decision,
    )  # fmt: skip
    run.loop_thread = threading.Thread(
        target=_guarded(loop.run, run.loop_stop, run.loop_error), name="scaling-loop", daemon=True
    )
    run.loop_thread.start()


def _guarded(
    body: Callable[[threading.Event], None], stop: threading.Event, errors: list[BaseException]
) -> Callable[[], None]:
    """Run the loop; an unexpected error is kept for the main thread instead of vanishing."""

    def target() -> None:
        try:
            body(stop)
        except Exception as error:  # handed to the main thread
            errors.append(error)

    return target


def _producer_argv(settings: DemoSettings, topic: str) -> list[str]:
    return [
        sys.executable, "-m", "producer", "--topic", topic, "--bootstrap", settings.bootstrap,
        "--burst", str(settings.burst), "--count", str(settings.total_events), "--rate", f"{settings.rate:g}",
    ]  # fmt: skip


def _watch(
    run: _Run, settings: DemoSettings, state: DemoState, observer: DemoObserver, clock: SystemClock
) -> Outcome:
    """Refresh the view until the target went up and back to 0 with nothing left to produce."""
    deadline = state.started + settings.duration
    while clock.now() < deadline:
        if run.loop_error:
            return "failed"
        producer_done = run.producer is not None and run.producer.poll() is not None
        if producer_done and run.producer is not None and run.producer.returncode != 0:
            log = settings.out_dir / "logs" / run.topic / "producer.log"
            run.failures.append(f"the producer exited with code {run.producer.returncode}: see {log}")
            return "failed"
        # While the broker fails, skip the extra admin request: only the loop's own should wait.
        members = None if state.last_decision_failed() else group_members(run.admin, run.group)
        state.update_members(members, producer_done)
        observer.refresh(state.snapshot(clock.now()))
        if producer_done and state.scaled_back_to_zero():
            return "completed"
        clock.wait(1.0)
    return "timed_out"


def _write_outputs(result: DemoResult, settings: DemoSettings) -> list[Path]:
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    title = f"lagscale demo: {result.topic}, {settings.partitions} partitions, {settings.mode} mode"
    data = {
        "outcome": result.outcome,
        "topic": result.topic,
        "group": result.group,
        "settings": {key: str(value) for key, value in asdict(settings).items()},
        "summary": result.summary.as_dict(),
        "replica_path": result.replica_path,
        "samples": [asdict(sample) for sample in result.timeline.samples],
        "decisions": [asdict(decision) for decision in result.timeline.decisions],
    }
    json_path = out / "demo-timeline.json"
    json_path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return [
        write_png([result.timeline], out / "demo-timeline.png", title),
        write_html([result.timeline], out / "demo-timeline.html", title),
        json_path,
    ]
