"""`lagscale demo`: the local variant of the tutorial's demo, with a real broker and real consumers."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table

from consumer.flags import ASSIGNMENT_STRATEGY, COMMIT_INTERVAL, GROUP_PROTOCOL
from kafkakit.cli_options import (
    BOOTSTRAP,
    BURST,
    PARTITIONS,
    PROCESS_TIME,
    RATE,
    command,
    legacy_envvars,
    option,
)
from kafkakit.logs import configure_logging
from lagscale.demo.local_broker import local_broker
from lagscale.demo.run import DemoResult, run_demo
from lagscale.demo.settings import DemoSettings
from lagscale.demo.view import LiveView, LogView
from lagscale.plots.png import require_matplotlib
from lagscale.timeline import Timeline
from producer.flags import KEY
from scaler.cli.options import HPA_DOWNSCALE_STABILIZATION, HPA_SYNC_PERIOD, HPA_TOLERANCE, MODE, keda_flag
from scaler.loop.config import ScalingConfig

EXIT_CODES = {"completed": 0, "timed_out": 1, "failed": 1, "interrupted": 130}


@legacy_envvars("LAGSCALE_DEMO")
@command("demo")
@BOOTSTRAP(
    envvar=["LAGSCALE_BOOTSTRAP"],  # not the tutorial's endpoint: the demo runs on a local broker
    help="Broker host:port; default: the kafka.env of scripts/kafka up (started if none answers).",
)
@option(
    "--start-broker/--no-start-broker",
    default=True,
    show_default=True,
    help="No --bootstrap and no local broker answers: start it (scripts/kafka up), stop it at the end.",
)
@PARTITIONS(help="Partitions of the demo topic.")
@BURST(default=2400, show_default=True)
@RATE(default=20.0, help="Events/s after the burst.")
@option(
    "--produce-seconds",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="How long to keep producing at --rate after the burst.",
)
@PROCESS_TIME(default=0.1, show_default=True)
@keda_flag("lagThreshold")(default=10, show_default=True)
@keda_flag("pollingInterval")(
    default=2,
    show_default=True,
    help="pollingInterval (also the HPA sync period unless --hpa-sync-period, to keep the demo short).",
)
@keda_flag("cooldownPeriod")(default=20, show_default=True)
@HPA_SYNC_PERIOD(
    default=None,
    show_default=False,
    help="HPA sync period in seconds; default: --polling-interval (Kubernetes: 15).",
)
@HPA_DOWNSCALE_STABILIZATION(
    default=10, show_default=True, help="HPA scale-down stabilization window in seconds (Kubernetes: 300)."
)
@HPA_TOLERANCE()
@GROUP_PROTOCOL(default="consumer", show_default=True)
@ASSIGNMENT_STRATEGY()
@COMMIT_INTERVAL()
@KEY(help="The producer's keys: random (0-99, like the tutorial), sequence (the event number) or none.")
@MODE()
@option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=240.0,
    show_default=True,
    help="Give up (exit 1) if replicas are not back to 0 after this many seconds.",
)
@option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Where the timeline PNG/HTML/JSON and the logs go.",
)
@option("--no-live", is_flag=True, help="Plain log lines instead of the live screen.")
@option("--keep-topic", is_flag=True, help="Do not delete the demo topic at the end.")
def demo(**options: Any) -> None:
    """Scale real consumer processes 0 -> N -> 0 on a local broker, with KEDA's exact rules.

    Without --bootstrap it uses the broker of scripts/kafka, and starts it (and stops it again at
    the end) when none answers. Ctrl+C stops everything it started.
    """
    settings = _settings(options)
    config = settings.scaling_config()  # every setting checked before looking for a broker
    settings.scenario(config)  # checks the group settings too (the prediction runs it at the end)
    require_matplotlib()  # the timeline plots are written at the end: fail now, not after the run
    log_path = settings.out_dir / "logs" / "demo.log"
    console = Console()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with _broker(options) as bootstrap, _log_file(log_path) as log_file:
            configure_logging(stream=log_file)  # decisions are shown by the view; details go to the file
            settings = dataclasses.replace(settings, bootstrap=bootstrap)
            result = _run(settings, config, options["no_live"], console)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _print_summary(console, result, log_path)
    if result.error:
        raise click.ClickException(result.error)
    if result.outcome == "timed_out":
        raise click.ClickException(
            f"replicas did not return to 0 within --duration {settings.duration:g}s: "
            "raise --duration, or lower --cooldown-period / --burst"
        )
    if EXIT_CODES[result.outcome]:
        raise SystemExit(EXIT_CODES[result.outcome])


@contextlib.contextmanager
def _broker(options: dict[str, Any]) -> Iterator[str]:
    """--bootstrap (or LAGSCALE_BOOTSTRAP) as given, else the local broker, started if need be."""
    if options["bootstrap"]:
        yield options["bootstrap"]
        return
    with local_broker(start=options["start_broker"], notify=lambda line: click.echo(line, err=True)) as found:
        yield found


@contextlib.contextmanager
def _log_file(path: Path) -> Iterator[IO[str]]:
    """The demo's log, made only once there is a broker to run against."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        yield log


def _settings(options: dict[str, Any]) -> DemoSettings:
    """The settings; the bootstrap address is filled in once a broker is found."""
    return DemoSettings(
        bootstrap="",
        partitions=options["partitions"],
        burst=options["burst"],
        rate=options["rate"],
        produce_seconds=options["produce_seconds"],
        process_time=options["process_time"],
        lag_threshold=options["lag_threshold"],
        polling_interval=options["polling_interval"],
        cooldown_period=options["cooldown_period"],
        hpa_downscale_stabilization=options["hpa_downscale_stabilization"],
        hpa_sync_period=options["hpa_sync_period"],
        hpa_tolerance=options["hpa_tolerance"],
        group_protocol=options["group_protocol"],
        assignment_strategy=options["assignment_strategy"] or "",
        commit_interval=options["commit_interval"],
        key=options["key_strategy"],
        mode=options["mode"],
        duration=options["duration"],
        out_dir=options["out_dir"],
        keep_topic=options["keep_topic"],
    )


def _run(settings: DemoSettings, config: ScalingConfig, plain: bool, console: Console) -> DemoResult:
    title = f"lagscale demo (local: real broker, real consumer processes, {settings.mode} mode)"
    if plain:
        print(title, flush=True)
        with LogView() as view:
            return run_demo(settings, config, view)
    with LiveView(title, console) as live:
        return run_demo(settings, config, live)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM ends the demo like Ctrl+C: everything it started is stopped."""
    raise KeyboardInterrupt


def _print_summary(console: Console, result: DemoResult, log_path: Path) -> None:
    """The run, and beside it what `lagscale simulate` predicted for the same settings, both
    summarised from the scaling loop's decisions, so every demo run also checks the model."""
    table = Table(title=f"demo {result.outcome}: topic {result.topic}")
    table.add_column(justify="right")
    table.add_column("this run")
    table.add_column("lagscale simulate predicted")
    prediction = result.predicted
    for name, real, model in zip(
        _SUMMARY_ROWS, _summary_cells(result.timeline), _summary_cells(prediction), strict=True
    ):
        table.add_row(name, real, model)
    table.add_row("decisions", str(len(result.timeline.decisions)), str(len(prediction.decisions)))
    for path in result.files:
        table.add_row("wrote", str(path), "")
    table.add_row("log", str(log_path), "")
    console.print(table)


_SUMMARY_ROWS = ("replicas", "peak lag", "drained", "replica-seconds", "scaling events")


def _summary_cells(timeline: Timeline) -> list[str]:
    summary = timeline.summary()
    drain = "never" if summary.drain_seconds is None else f"{summary.drain_seconds:g} s after the peak"
    return [
        " -> ".join(str(count) for count in timeline.replica_path()),
        f"{summary.peak_lag} at t={summary.peak_lag_at:g}s",
        drain,
        f"{summary.replica_seconds:g}",
        str(summary.scaling_events),
    ]
