"""`lagscale simulate`: what would KEDA + the HPA do with this load? No broker, no cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from lagscale.plots.png import PlotError, check_output_path, write_html, write_png
from lagscale.simulate.load import LoadProfile, LoadProfileError, load_csv, parse_load
from lagscale.simulate.simulation import (
    MODES,
    Scenario,
    SimulationError,
    SimulationResult,
    compare,
    run,
    settings_from,
    simulated_trigger,
    unknown_metadata_warnings,
)
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.fixes import Fixes, parse_fixes
from scaler.keda.hpa import HpaSpec
from scaler.keda.scaledobject import parse_scaled_object
from scaler.keda.trigger import KafkaTrigger

DEFAULT_LOAD = "bursts:3000@900"


class InputError(click.ClickException):
    """Bad input: one line saying what to change, exit code 2 (like a usage error)."""

    exit_code = 2


@click.command(
    "simulate",
    # Every option also reads LAGSCALE_SIMULATE_<OPTION>, e.g. LAGSCALE_SIMULATE_PARTITIONS=64.
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "LAGSCALE_SIMULATE"},
)
@click.option(
    "--load",
    "load_text",
    default=None,
    help=f"constant:RATE | steps:R1@T1,R2@T2,... | "
    f"bursts:N@EVERY (events/s, seconds). Default {DEFAULT_LOAD}.",
)
@click.option(
    "--load-csv",
    type=click.Path(path_type=Path),
    default=None,
    help="CSV of events/s per second (one value per line, or second,rate).",
)
@click.option("--process-time", type=float, default=0.1, show_default=True, help="Seconds per event.")
@click.option("--partitions", type=int, default=6, show_default=True)
@click.option(
    "--pod-start-delay",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds from a replica being asked for until it consumes.",
)
@click.option(
    "--initial-replicas",
    type=int,
    default=0,
    show_default=True,
    help="Pods already consuming at the start (e.g. 63 of 64 partitions for keda#2908).",
)
@click.option(
    "--initial-lag",
    type=int,
    default=0,
    show_default=True,
    help="Events already waiting at the start, spread over the partitions.",
)
@click.option("--duration", type=int, default=900, show_default=True, help="Simulated seconds.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="ScaledObject YAML; the flags below override its values.",
)
@click.option("--lag-threshold", type=int, default=None, help="lagThreshold [10].")
@click.option("--activation-lag-threshold", type=int, default=None, help="activationLagThreshold [0].")
@click.option(
    "--metadata",
    "extra_metadata",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other kafka trigger metadata, e.g. allowIdleConsumers=true (repeatable).",
)
@click.option("--polling-interval", type=int, default=None, help="pollingInterval [30].")
@click.option("--cooldown-period", type=int, default=None, help="cooldownPeriod [300].")
@click.option("--min-replica-count", type=int, default=None, help="minReplicaCount [0].")
@click.option("--max-replica-count", type=int, default=None, help="maxReplicaCount [100].")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="keda",
    show_default=True,
    help="keda: KEDA + HPA; direct: the scaler sets replicas itself.",
)
@click.option("--fixes", "fixes_text", default="", help="Comma list of KEDA quirk fixes, or 'all'.")
@click.option("--compare", is_flag=True, help="Run keda, keda with fixes (default all) and direct.")
@click.option("--plot", "png_path", type=click.Path(path_type=Path), default=None, help="Write a PNG.")
@click.option(
    "--html", "html_path", type=click.Path(path_type=Path), default=None, help="Write an HTML page."
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def simulate(**options: Any) -> None:
    """Simulate KEDA's Kafka scaler and the HPA, second by second, on a modelled load.

    The real scaling code decides; only the topic, the consumers and the pods are modelled.
    """
    scenario = _scenario(options)
    outputs = [path for path in (options["png_path"], options["html_path"]) if path]
    try:
        for path in outputs:  # before anything is written or printed
            check_output_path(path)
        results = _run(scenario, options)
    except (SimulationError, PlotError) as error:
        raise InputError(str(error)) from None
    _write_plots(results, options)  # before the table: a failure leaves no half output
    if options["as_json"]:
        click.echo(json.dumps(_json(scenario, results), indent=2))
    else:
        _print_table(scenario, results)


def _run(scenario: Scenario, options: dict[str, Any]) -> list[SimulationResult]:
    if not options["compare"]:
        return [run(scenario)]
    fixed = scenario.fixes if scenario.fixes.enabled else parse_fixes("all")
    label = "keda+fixes" if fixed == parse_fixes("all") else "keda+" + "+".join(fixed.enabled)
    return compare(
        scenario, [("keda", Fixes(), "keda"), ("keda", fixed, label), ("direct", Fixes(), "direct")]
    )


def _scenario(options: dict[str, Any]) -> Scenario:
    try:
        load = _load(options)
        fixes = parse_fixes(options["fixes_text"])
        trigger, spec, hpa = _scaling_settings(options)
        scenario = Scenario(
            load=load,
            trigger=trigger,
            spec=spec,
            hpa=hpa,
            partitions=options["partitions"],
            process_time=options["process_time"],
            pod_start_delay=options["pod_start_delay"],
            initial_replicas=options["initial_replicas"],
            initial_lag=options["initial_lag"],
            duration=options["duration"],
            mode=options["mode"],
            fixes=fixes,
        )
        return scenario.validate()
    except (LoadProfileError, SimulationError, ValueError) as error:
        raise InputError(_one_line(error)) from None


def _load(options: dict[str, Any]) -> LoadProfile:
    if options["load_text"] and options["load_csv"]:
        raise LoadProfileError("give either --load or --load-csv, not both")
    if options["load_csv"]:
        return load_csv(options["load_csv"])
    return parse_load(options["load_text"] or DEFAULT_LOAD)


def _scaling_settings(options: dict[str, Any]) -> tuple[KafkaTrigger, ScaledObjectSpec, HpaSpec]:
    """Trigger, executor spec and HPA: from --config if given, then the flags on top."""
    metadata: dict[str, str] = {}
    metric_type = "AverageValue"
    spec, hpa = ScaledObjectSpec(), HpaSpec()
    if options["config_path"]:
        definition = parse_scaled_object(_read_yaml(options["config_path"]))
        metadata, metric_type, spec, hpa = settings_from(definition)
    metadata.update(_metadata_flags(options))
    trigger = simulated_trigger(metadata, metric_type)
    spec = _override(
        spec, options, ("polling_interval", "cooldown_period", "min_replica_count", "max_replica_count")
    ).validate()
    # KEDA builds the HPA from the ScaledObject, so flags that change it change the HPA too.
    hpa = dataclasses.replace(
        hpa,
        min_replicas=max(spec.min_replica_count, 1),
        max_replicas=spec.max_replica_count,
        target_type=trigger.metric_type,
        target_value=trigger.lag_threshold,
    )
    return trigger, spec, hpa


def _metadata_flags(options: dict[str, Any]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for item in options["extra_metadata"]:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise SimulationError(f"--metadata {item!r}: write KEY=VALUE, e.g. allowIdleConsumers=true")
        metadata[key.strip()] = value
    for warning in unknown_metadata_warnings(metadata):
        click.echo(warning, err=True)
    if options["lag_threshold"] is not None:
        metadata["lagThreshold"] = str(options["lag_threshold"])
    if options["activation_lag_threshold"] is not None:
        metadata["activationLagThreshold"] = str(options["activation_lag_threshold"])
    return metadata


def _override(spec: ScaledObjectSpec, options: dict[str, Any], names: tuple[str, ...]) -> ScaledObjectSpec:
    changes = {name: options[name] for name in names if options[name] is not None}
    return dataclasses.replace(spec, **changes)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise SimulationError(f"cannot read --config {str(path)!r}: {error}") from None
    except yaml.YAMLError as error:
        raise SimulationError(f"--config {str(path)!r} is not valid YAML: {_one_line(error)}") from None
    if not isinstance(document, dict):
        raise SimulationError(f"--config {str(path)!r} must hold one ScaledObject mapping")
    return document


def _write_plots(results: list[SimulationResult], options: dict[str, Any]) -> None:
    timelines = [result.timeline for result in results]
    scenario = results[0].scenario
    title = f"lagscale simulate: {scenario.load.description}, {scenario.partitions} partitions"
    try:
        if options["png_path"]:
            write_png(timelines, options["png_path"], title)
        if options["html_path"]:
            write_html(timelines, options["html_path"], title)
    except PlotError as error:
        raise click.ClickException(str(error)) from None


def _json(scenario: Scenario, results: list[SimulationResult]) -> dict[str, Any]:
    return {
        "load": scenario.load.description,
        "partitions": scenario.partitions,
        "process_time": scenario.process_time,
        "pod_start_delay": scenario.pod_start_delay,
        "duration": scenario.duration,
        "lag_threshold": scenario.trigger.lag_threshold,
        "polling_interval": scenario.spec.polling_interval,
        "cooldown_period": scenario.spec.cooldown_period,
        "runs": [result.as_dict() for result in results],
    }


def _print_table(scenario: Scenario, results: list[SimulationResult]) -> None:
    capacity = scenario.partitions / scenario.process_time
    table = Table(
        title=f"{scenario.load.description} | {scenario.partitions} partitions | "
        f"{scenario.process_time:g} s/event (max {capacity:g} events/s) | lagThreshold "
        f"{scenario.trigger.lag_threshold} | {scenario.duration} s simulated"
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
        table.add_column(column, justify="left" if column == "run" else "right")
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
    Console().print(table)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
