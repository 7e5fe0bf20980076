"""`lagscale scale` / `python -m scaler`: watch a consumer group's lag and act on it.

The settings come from a real KEDA ScaledObject YAML (`--config`, with `--trigger-auth` and
`--secret` files), or from plain flags. `--target` picks what is scaled: a Kubernetes Deployment or
StatefulSet, local consumer processes, or nothing (`dry-run`, the default, only logs).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from kafkakit.cli_options import connection_options
from kafkakit.logs import configure_logging
from kafkakit.probe_server import start_probe_server
from scaler.cli.scale_settings import ScaleSettings, settings_from_options
from scaler.cli.settings import config_file_options, scaled_object_options, trigger_options
from scaler.errors import TargetError
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.fixes import Fixes, parse_fixes
from scaler.keda.lag import LagCalculator
from scaler.loop.metrics import ScalerMetrics
from scaler.loop.scaling_loop import MODES, Decision, ScalingLoop
from scaler.targets.build import TARGET_KINDS, BuiltTarget, TargetOptions, build_target


def _print_decision(decision: Decision) -> None:
    click.echo(" ".join(f"{key}={_shell_quote(value)}" for key, value in decision.fields().items()))


def _shell_quote(value: object) -> str:
    """Quoted like the log lines, so `shlex.split` reads either back."""
    text = str(value)
    if not text or any(ch in text for ch in ' ="\\\n'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


def _fan_out(*handlers: Callable[[Decision], None]) -> Callable[[Decision], None]:
    def handle(decision: Decision) -> None:
        for handler in handlers:
            handler(decision)

    return handle


@click.command("scale", context_settings={"help_option_names": ["-h", "--help"]})
@config_file_options("LAGSCALE_SCALER")
@connection_options
@trigger_options("LAGSCALE_SCALER")
@scaled_object_options("LAGSCALE_SCALER")
@click.option(
    "--mode",
    envvar="LAGSCALE_SCALER_MODE",
    type=click.Choice(MODES),
    default="keda",
    show_default=True,
    help="keda: KEDA + HPA timing exactly; direct: ceil(metric/lagThreshold) at every poll.",
)
@click.option(
    "--target",
    "target_kind",
    envvar="LAGSCALE_SCALER_TARGET",
    type=click.Choice(TARGET_KINDS),
    default="dry-run",
    show_default=True,
    help="What to scale: a Deployment/StatefulSet, local `python -m consumer` processes, or nothing.",
)
@click.option("--kind", type=click.Choice(["Deployment", "StatefulSet"]), default=None, help="kubernetes.")
@click.option("--name", "target_name", default=None, help="kubernetes: workload name.")
@click.option("--namespace", default=None, help="kubernetes: namespace.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="kubernetes: kubeconfig.")
@click.option(
    "--leader-elect",
    envvar="LAGSCALE_SCALER_LEADER_ELECT",
    is_flag=True,
    help="kubernetes: act only while holding a Lease (for several scaler replicas).",
)
@click.option("--lease-name", default="", help="kubernetes: Lease name (default lagscale-<workload>).")
@click.option(
    "--process-time", type=click.FloatRange(min=0), default=None, help="processes: seconds per event."
)
@click.option("--consumer-arg", multiple=True, help="processes: extra consumer argument (repeatable).")
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    help="processes: seconds between SIGTERM and SIGKILL.",
)
@click.option("--current-replicas", type=click.IntRange(min=0), default=0, help="dry-run: replicas at start.")
@click.option(
    "--fixes",
    "fixes_text",
    envvar="LAGSCALE_SCALER_FIXES",
    default="",
    help="Opt-in KEDA quirk fixes: comma list or 'all'.",
)
@click.option(
    "--metrics-port",
    envvar="LAGSCALE_SCALER_METRICS_PORT",
    type=click.IntRange(0, 65535),
    default=0,
    help="Serve /metrics (0 = off).",
)
@click.option("--metrics-host", envvar="LAGSCALE_SCALER_METRICS_HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0.5), default=10.0, show_default=True, help="Broker timeout."
)
@click.option("--once", is_flag=True, help="Evaluate once, print the decision(s), exit.")
@click.option(
    "--serve-grpc",
    "serve_grpc_listen",
    envvar="LAGSCALE_GRPC_LISTEN",
    default=None,
    metavar="[HOST:]PORT",
    help="Instead of scaling, serve KEDA's External Scaler gRPC API (= `lagscale serve-grpc --listen`).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def scale(**options: Any) -> None:
    """Scale consumers on consumer-group lag, with KEDA's exact semantics, explaining each step."""
    configure_logging(options.pop("verbose"))
    try:
        fixes = parse_fixes(options.pop("fixes_text"))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if options["serve_grpc_listen"] is not None:
        _serve_grpc(options["serve_grpc_listen"], fixes, options)
        return
    settings = settings_from_options(options)
    built = build_target(_target_options(settings, options))
    source = KafkaOffsetSource(
        settings.connection, OffsetQuery.for_trigger(settings.trigger, fixes), timeout=options["timeout"]
    )
    _run(settings, built, source, fixes, options)


def _serve_grpc(listen: str, fixes: Fixes, options: dict[str, Any]) -> None:
    """KEDA computes replicas and asks us for the metric: no loop, no target (external mode)."""
    if options["config"] is not None or options["once"]:
        raise click.UsageError("--serve-grpc cannot be combined with --config or --once")
    # Lazy: grpc is an optional extra and slow to import.
    from scaler.cli.serve_grpc import read_auth_dir, serve_external_scaler  # noqa: PLC0415
    from scaler.grpc.scalers import ScalerSettings  # noqa: PLC0415

    auth_dir = os.environ.get("LAGSCALE_GRPC_AUTH_DIR")
    settings = ScalerSettings(
        fixes=fixes,
        kafka_timeout=options["timeout"],
        auth_params=read_auth_dir(Path(auth_dir)) if auth_dir else {},
    )
    serve_external_scaler(listen, settings)


def _target_options(settings: ScaleSettings, options: dict[str, Any]) -> TargetOptions:
    return TargetOptions(
        kind=options["target_kind"],
        trigger=settings.trigger,
        profile=settings.connection.profile,
        workload_kind=options["kind"] or settings.target_kind,
        workload_name=options["target_name"] or settings.target_name,
        namespace=options["namespace"] or settings.namespace,
        kubeconfig=options["kubeconfig"],
        process_time=options["process_time"],
        consumer_args=tuple(options["consumer_arg"]),
        stop_grace=options["stop_grace"],
        current_replicas=options["current_replicas"],
        leader_elect=options["leader_elect"],
        lease_name=options["lease_name"],
    )


def _run(
    settings: ScaleSettings, built: BuiltTarget, source: KafkaOffsetSource, fixes: Fixes, options: Any
) -> None:
    metrics = ScalerMetrics(settings.name, stale_after_seconds=_stale_after(settings, options["timeout"]))
    server = start_probe_server(
        options["metrics_host"], options["metrics_port"], metrics.health, metrics.render
    )
    decisions: list[Decision] = []
    loop = ScalingLoop(
        source,
        LagCalculator(settings.trigger, fixes),
        built.target,
        settings.spec,
        settings.hpa,
        mode=options["mode"],
        fixes=fixes,
        on_decision=_fan_out(metrics.observe, decisions.append),
        use_cached_metrics=settings.use_cached_metrics,
        pause=settings.pause,
        created_ago=created_ago(settings.created_at),
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if options["once"]:
            try:
                for decision in loop.step(stop):
                    _print_decision(decision)
            except TargetError as error:
                raise click.ClickException(f"{built.target.name}: {error}") from None
            if any(decision.error for decision in decisions):
                raise click.ClickException("the evaluation failed (see the error above)")
        else:
            loop.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        built.close()
        source.close()
        if server is not None:
            server.stop()


def created_ago(created_at: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds since metadata.creationTimestamp (the loop's clock is monotonic, not wall time)."""
    if created_at is None:
        return None
    return ((now or datetime.now(UTC)) - created_at).total_seconds()


def _stale_after(settings: ScaleSettings, timeout: float) -> float:
    """/healthz turns 503 when no decision arrived for three polls plus the retried fetches."""
    return 3 * settings.spec.polling_interval + 4 * timeout
