"""The local demo: the real ScalingLoop scales real consumer processes on a real broker.

It creates its own topic (random suffix), writes a burst with the producer, and lets the loop
scale `python -m consumer` processes 0 -> N -> 0. Everything it starts (consumers, producer) is
stopped by PID when it ends, also on Ctrl+C, and the topic is deleted unless asked to keep it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from confluent_kafka.admin import AdminClient

from kafkakit.broker import connect_admin, ensure_topic
from kafkakit.errors import BrokerError, ConfigError
from kafkakit.profiles import build_profile
from lagscale.demo.effects import (
    delete_topics,
    group_members,
    require_listening,
    start_producer,
    stop_producer,
    wait_for_leaders,
)
from lagscale.demo.settings import DemoSettings
from lagscale.demo.state import DemoObserver, DemoState
from lagscale.plots.html import write_html
from lagscale.plots.png import write_png
from lagscale.simulate.simulation import run as simulate
from lagscale.timeline import RunSummary, Timeline
from scaler.kafka.connection import KafkaConnection
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.loop.clock import SystemClock
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision
from scaler.loop.scaling_loop import ScalingLoop
from scaler.targets.processes import ProcessTarget

Outcome = Literal["completed", "timed_out", "interrupted", "failed"]


@dataclass
class DemoResult:
    outcome: Outcome
    topic: str
    group: str
    timeline: Timeline
    summary: RunSummary
    predicted: Timeline
    """What `lagscale simulate` predicted for the same settings, sampled at its decisions as the run
    is: every demo run is also a check of the model."""
    files: list[Path] = field(default_factory=list)
    error: str = ""

    @property
    def replica_path(self) -> list[int]:
        """The replica counts asked for, with repeats collapsed: e.g. [0, 1, 4, 6, 1, 0]."""
        return self.timeline.replica_path()


@dataclass
class _Run:
    """The parts one demo run started; `stop()` ends them all, by PID for processes."""

    admin: AdminClient
    topic: str
    group: str
    target: ProcessTarget
    source: KafkaOffsetSource
    loop_stop: threading.Event = field(default_factory=threading.Event)
    loop_thread: threading.Thread | None = None
    loop_error: list[BaseException] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    producers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    later: list[tuple[float, list[str]]] = field(default_factory=list)
    """Producers still to start: (seconds after the start, argv)."""

    def stop(self, keep_topic: bool) -> None:
        self.loop_stop.set()
        if self.loop_thread is not None:
            self.loop_thread.join(timeout=30)
        self.target.close()
        for producer in self.producers:
            stop_producer(producer)
        self.source.close()
        if not keep_topic:
            delete_topics(self.admin, [self.topic, f"{self.topic}.dlq"])


def run_demo(settings: DemoSettings, config: ScalingConfig, observer: DemoObserver) -> DemoResult:
    """Run the demo (`config` is settings.scaling_config()) to its end, or timeout / Ctrl+C;
    returns what happened, files written."""
    topic, group = settings.topic, settings.group
    log_dir = settings.out_dir / "logs" / topic
    run = _start(settings, config, log_dir)
    observer.started(topic, group)
    clock = SystemClock()
    state = DemoState(settings.partitions, settings.lag_threshold, started=clock.now())
    outcome: Outcome = "failed"
    try:
        _start_loop(run, config, clock, state, observer)
        run.producers.append(start_producer(_producer_argv(settings, topic), log_dir / "producer.log"))
        run.later = [(at, _burst_argv(settings, topic, count)) for at, count in sorted(settings.later_bursts)]
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
    predicted = simulate(settings.scenario(config)).timeline.at_decisions()
    result = DemoResult(outcome, topic, group, timeline, timeline.summary(), predicted, error=error)
    result.files = _write_outputs(result, settings)
    return result


def _start(settings: DemoSettings, config: ScalingConfig, log_dir: Path) -> _Run:
    topic, group = settings.topic, settings.group
    try:
        profile = build_profile("plaintext", bootstrap=settings.bootstrap)
    except ConfigError as error:
        raise error.renamed(lambda _: "--bootstrap") from None
    try:
        require_listening(profile.bootstrap)
        admin = connect_admin(profile, timeout=10)
        ensure_topic(admin, topic, create=True, partitions=settings.partitions)
        wait_for_leaders(admin, topic, settings.partitions)
    except BrokerError as error:
        raise BrokerError(
            f"{error}: check --bootstrap (without it the demo uses, and if need be starts, the local broker)",
            retriable=False,
        ) from None
    consumer_args = [
        "--topic", topic, "--group", group, "--bootstrap", settings.bootstrap,
        "--process-time", f"{settings.process_time:g}", "--metrics-port", "0",
        "--group-protocol", settings.group_protocol, "--commit-interval", f"{settings.commit_interval:g}",
    ]  # fmt: skip
    if settings.assignment_strategy:
        consumer_args += ["--assignment-strategy", settings.assignment_strategy]
    # Through child_guard, consumers also stop if this process dies without cleaning up.
    guarded = [sys.executable, "-m", "lagscale.demo.child_guard", "consumer"]
    target = ProcessTarget(consumer_args, command=guarded, log_dir=log_dir, stop_grace_seconds=10)
    source = KafkaOffsetSource(KafkaConnection(profile), OffsetQuery.for_trigger(config.trigger))
    return _Run(admin, topic, group, target, source)


def _start_loop(
    run: _Run, config: ScalingConfig, clock: SystemClock, state: DemoState, observer: DemoObserver
) -> None:
    def on_decision(decision: Decision) -> None:
        observer.decision(state.record(decision, run.target.current_replicas()))

    loop = ScalingLoop(config, run.source, run.target, clock=clock, on_decision=on_decision)
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
        "--key", settings.key,
    ]  # fmt: skip


def _burst_argv(settings: DemoSettings, topic: str, count: int) -> list[str]:
    return [
        sys.executable, "-m", "producer", "--topic", topic, "--bootstrap", settings.bootstrap,
        "--burst", str(count), "--count", str(count), "--rate", "0", "--key", settings.key,
    ]  # fmt: skip


def _watch(
    run: _Run, settings: DemoSettings, state: DemoState, observer: DemoObserver, clock: SystemClock
) -> Outcome:
    """Refresh the view until the target went up and back to 0 with nothing left to produce."""
    deadline = state.started + settings.duration
    while clock.now() < deadline:
        if run.loop_error:
            return "failed"
        _start_later_producers(run, settings, clock.now() - state.started)
        codes = [producer.poll() for producer in run.producers]
        producer_done = not run.later and None not in codes
        if any(code for code in codes):
            log = settings.out_dir / "logs" / run.topic / "producer.log"
            run.failures.append(f"the producer exited with code {max(c or 0 for c in codes)}: see {log}")
            return "failed"
        # While the broker fails, skip the extra admin request: only the loop's own should wait.
        members = None if state.last_decision_failed() else group_members(run.admin, run.group)
        state.update_members(members, producer_done)
        observer.refresh(state.snapshot(clock.now()))
        if producer_done and state.scaled_back_to_zero():
            return "completed"
        clock.wait(1.0)
    return "timed_out"


def _start_later_producers(run: _Run, settings: DemoSettings, elapsed: float) -> None:
    log = settings.out_dir / "logs" / run.topic / "producer.log"
    while run.later and run.later[0][0] <= elapsed:
        run.producers.append(start_producer(run.later.pop(0)[1], log))


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
        "predicted": {
            "by": "lagscale simulate, same settings (DemoSettings.scenario), summarised at its decisions",
            "summary": result.predicted.summary().as_dict(),
            "replica_path": result.predicted.replica_path(),
            "replica_changes": [
                [round(at, 1), replicas] for at, replicas in result.predicted.replica_changes()
            ],
        },
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
