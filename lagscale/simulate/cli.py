"""`lagscale simulate`: what would KEDA + the HPA do with this load? No broker, no cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from kafkakit.cli_options import PARTITIONS, PROCESS_TIME, command, legacy_envvars, option, options
from kafkakit.errors import ConfigError
from lagscale.plots.files import check_output_path, check_plot_path
from lagscale.plots.html import write_html
from lagscale.plots.png import require_matplotlib, write_png
from lagscale.simulate.group_settings import measured_start_spread
from lagscale.simulate.load import LoadProfile, load_csv, parse_load
from lagscale.simulate.options import KEYS, group_from_options, group_options, keys_from_options
from lagscale.simulate.settings import config_from_options, metadata_items, unknown_metadata_warnings
from lagscale.simulate.simulation import Scenario, SimulationResult, compare, run
from scaler.cli.options import (
    CONFIG,
    FIXES,
    JSON,
    MODE,
    TRIGGER_FLAGS,
    fixes_from,
    hpa_controller_options,
    scaled_object_options,
)
from scaler.keda.fixes import Fixes, parse_fixes

DEFAULT_LOAD = "bursts:3000@900"
ALL_FIXES = parse_fixes("all")


@legacy_envvars("LAGSCALE_SIMULATE")
@command("simulate")
@option(
    "--load",
    "load_text",
    default=None,
    help="constant:RATE | steps:R1@T1,R2@T2,... | bursts:N@EVERY | burst:N@T1,N@T2,... (events/s, "
    f"seconds), parts joined by +. Default {DEFAULT_LOAD}.",
)
@option(
    "--load-csv",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV of events/s per second (one value per line, or second,rate).",
)
@PROCESS_TIME(default=0.1, show_default=True)
@PARTITIONS()
@option(
    "--pod-start-delay",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds from a replica being asked for until its consumer starts (and joins the group).",
)
@option(
    "--pod-start-spread",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between the consumers of pods asked for at once starting; default: measured.",
)
@option(
    "--initial-replicas",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Pods already consuming at the start (e.g. 63 of 64 partitions for keda#2908).",
)
@option(
    "--initial-lag",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Events already waiting at the start, spread over the partitions.",
)
@option("--duration", type=click.IntRange(min=1), default=900, show_default=True, help="Simulated seconds.")
@CONFIG(help="ScaledObject YAML; the flags below override its values.")
@options(*(flag.flag() for flag in TRIGGER_FLAGS))
@option(
    "--metadata",
    "extra_metadata",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other kafka trigger metadata, e.g. allowIdleConsumers=true (repeatable).",
)
@scaled_object_options()
@hpa_controller_options()
@KEYS()
@group_options()
@MODE(help="keda: KEDA + HPA; direct: the scaler sets replicas itself.")
@FIXES()
@option("--compare", is_flag=True, help="Run keda, keda with fixes (default all) and direct.")
@option(
    "--plot",
    "png_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the timeline as a PNG (or .svg, .pdf).",
)
@option("--html", "html_path", type=click.Path(path_type=Path), default=None, help="Write an HTML page.")
@JSON(help="Print results as JSON.")
def simulate(**options: Any) -> None:
    """Simulate KEDA's Kafka scaler and the HPA, second by second, on a modelled load.

    The real scaling code decides; only the topic, the consumers and the pods are modelled.
    """
    scenario = _scenario(options)
    png_path: Path | None = options["png_path"]
    html_path: Path | None = options["html_path"]
    # Every output is checked before the run, so a bad path costs nothing and leaves nothing.
    if png_path is not None:
        check_plot_path(png_path, "--plot")
        require_matplotlib()
    if html_path is not None:
        check_output_path(html_path, "--html")
    results = _run(scenario, options["compare"])
    timelines = [result.timeline for result in results]
    title = f"lagscale simulate: {scenario.load.description}, {scenario.partitions} partitions"
    if png_path is not None:
        write_png(timelines, png_path, title)
    if html_path is not None:
        write_html(timelines, html_path, title)
    if options["as_json"]:
        click.echo(json.dumps(_json(scenario, results), indent=2))
    else:
        _print_table(scenario, results)


def _run(scenario: Scenario, with_comparison: bool) -> list[SimulationResult]:
    if not with_comparison:
        return [run(scenario)]
    config = scenario.config
    fixed = config.fixes if config.fixes.enabled else ALL_FIXES
    label = "keda+fixes" if fixed == ALL_FIXES else "keda+" + "+".join(fixed.enabled)
    return compare(
        scenario, [("keda", Fixes(), "keda"), ("keda", fixed, label), ("direct", Fixes(), "direct")]
    )


def _scenario(options: dict[str, Any]) -> Scenario:
    for warning in unknown_metadata_warnings(metadata_items(options["extra_metadata"])):
        click.echo(warning, err=True)
    config = config_from_options(options, mode=options["mode"], fixes=fixes_from(options["fixes_text"]))
    spread = options["pod_start_spread"]
    return Scenario(
        load=_load(options),
        config=config,
        partitions=options["partitions"],
        process_time=options["process_time"],
        pod_start_delay=options["pod_start_delay"],
        pod_start_spread=measured_start_spread() if spread is None else spread,
        initial_replicas=options["initial_replicas"],
        initial_lag=options["initial_lag"],
        duration=options["duration"],
        keys=keys_from_options(options),
        group=group_from_options(options),
    ).validate()


def _load(options: dict[str, Any]) -> LoadProfile:
    if options["load_text"] and options["load_csv"]:
        raise ConfigError("give either --load or --load-csv, not both")
    if options["load_csv"]:
        return load_csv(options["load_csv"])
    return parse_load(options["load_text"] or DEFAULT_LOAD)


def _json(scenario: Scenario, results: list[SimulationResult]) -> dict[str, Any]:
    config = scenario.config
    return {
        "load": scenario.load.description,
        "partitions": scenario.partitions,
        "process_time": scenario.process_time,
        "pod_start_delay": scenario.pod_start_delay,
        "duration": scenario.duration,
        "lag_threshold": config.trigger.lag_threshold,
        "polling_interval": config.spec.polling_interval,
        "cooldown_period": config.spec.cooldown_period,
        "hpa": dataclasses.asdict(config.controller),
        "keys": scenario.keys.text,
        "group": dataclasses.asdict(scenario.group),
        "pod_start_spread": scenario.pod_start_spread,
        "runs": [result.as_dict() for result in results],
    }


def _print_table(scenario: Scenario, results: list[SimulationResult]) -> None:
    capacity = scenario.partitions / scenario.process_time
    table = Table(
        title=f"{scenario.load.description} | {scenario.partitions} partitions | "
        f"{scenario.process_time:g} s/event (max {capacity:g} events/s) | lagThreshold "
        f"{scenario.config.trigger.lag_threshold} | {scenario.duration} s simulated"
    )
    for column in (
        "run",
        "peak lag",
        "drain (s)",
        "replica-seconds",
        "scaling events",
        "max replicas",
        "final replicas",
        "final lag",
    ):
        table.add_column(column, justify="left" if column == "run" else "right", no_wrap=True)
    for result in results:
        summary = result.summary
        drain = "never" if summary.drain_seconds is None else f"{summary.drain_seconds:g}"
        table.add_row(
            summary.label,
            str(summary.peak_lag),
            drain,
            f"{summary.replica_seconds:g}",
            str(summary.scaling_events),
            str(summary.max_replicas_seen),
            str(summary.final_replicas),
            str(summary.final_lag),
        )
    _print_wide(table)


def _print_wide(table: Table) -> None:
    """The whole table, as wide as it needs to be: a narrow terminal (or a pipe, which rich takes
    for 80 columns) must not cut or squeeze it."""
    console = Console()
    needed = Measurement.get(console, console.options.update(max_width=1_000), table).maximum
    title = len(str(table.title or ""))
    Console(width=max(console.width, needed, title)).print(table)
