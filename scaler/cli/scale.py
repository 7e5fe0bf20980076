"""`lagscale scale` / `python -m scaler`: watch a consumer group's lag and act on it.

The settings come from a real KEDA ScaledObject YAML (`--config`, with `--trigger-auth` and
`--secret` files), or from plain flags. `--target` picks what is scaled: a Kubernetes Deployment or
StatefulSet, local consumer processes, or nothing (`dry-run`, the default, only logs).

The loop runs in a background thread, so Ctrl+C ends the command at once (exit status 130) even
while an evaluation waits for a broker that does not answer; a second Ctrl+C skips the cleanup.
SIGTERM (a pod being stopped) ends it gracefully with status 0.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from kafkakit.cli_options import (
    METRICS_HOST,
    METRICS_PORT,
    PROCESS_TIME,
    VERBOSE,
    command,
    connection_options,
    legacy_envvars,
    option,
)
from kafkakit.logs import configure_logging, log_event
from kafkakit.probe_server import start_probe_server
from kafkakit.signals import run_in_background
from scaler.cli.external import AUTH_DIR, scaler_settings, server_options
from scaler.cli.options import (
    CURRENT_REPLICAS,
    FIXES,
    MODE,
    TIMEOUT,
    config_file_options,
    fixes_from,
    grpc_tls_options,
    hpa_controller_from,
    hpa_controller_options,
    scaled_object_options,
    server_tls,
    trigger_options,
)
from scaler.cli.settings import Settings, settings_from_options
from scaler.errors import TargetError
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.fixes import Fixes
from scaler.loop.decision import Decision
from scaler.loop.metrics import ScalerMetrics
from scaler.loop.scaling_loop import ScalingLoop
from scaler.targets.build import TARGET_KINDS, BuiltTarget, TargetOptions, build_target

_log = logging.getLogger("scaler")


@legacy_envvars("LAGSCALE_SCALER")
@command("scale")
@config_file_options()
@connection_options
@trigger_options()
@scaled_object_options()
@MODE()
@hpa_controller_options()
@option(
    "--target",
    "target_kind",
    type=click.Choice(TARGET_KINDS),
    default="dry-run",
    show_default=True,
    help="What to scale: a Deployment/StatefulSet, local `python -m consumer` processes, or nothing.",
)
@option(
    "--kind",
    type=click.Choice(["Deployment", "StatefulSet"]),
    default=None,
    help="kubernetes: workload kind.",
)
@option("--name", "target_name", default=None, help="kubernetes: workload name.")
@option("--namespace", default=None, help="kubernetes: namespace.")
@option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="kubernetes: kubeconfig file.")
@option(
    "--leader-elect",
    is_flag=True,
    help="kubernetes: act only while holding a Lease (for several scaler replicas).",
)
@option("--lease-name", default="", help="kubernetes: Lease name (default lagscale-<workload>).")
@PROCESS_TIME(default=None, help="processes: seconds each consumer spends per event.")
@option("--consumer-arg", multiple=True, help="processes: extra consumer argument (repeatable).")
@option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    help="processes: seconds between SIGTERM and SIGKILL.",
)
@CURRENT_REPLICAS(default=0, help="dry-run: replicas at start.")
@FIXES()
@METRICS_PORT(help="Serve /healthz and /metrics on this port (0 = off).")
@METRICS_HOST()
@TIMEOUT(help="Seconds one evaluation waits for the broker.")
@option("--once", is_flag=True, help="Evaluate once, print the decision(s), exit.")
@option(
    "--serve-grpc",
    "serve_grpc_listen",
    legacy_envvars=["LAGSCALE_GRPC_LISTEN"],
    default=None,
    metavar="[HOST:]PORT",
    help="Instead of scaling, serve KEDA's External Scaler gRPC API (= `lagscale serve-grpc --listen`).",
)
@server_options(
    auth_dir=AUTH_DIR(
        legacy_envvars=["LAGSCALE_GRPC_AUTH_DIR"],
        help="With --serve-grpc: TriggerAuthentication parameters, one file each (e.g. a mounted Secret).",
    )
)
@grpc_tls_options()
@VERBOSE()
def scale(**options: Any) -> None:
    """Scale consumers on consumer-group lag, with KEDA's exact semantics, explaining each step."""
    configure_logging(options.pop("verbose"))
    fixes = fixes_from(options.pop("fixes_text"))
    if options["serve_grpc_listen"] is not None:
        _serve_grpc(options["serve_grpc_listen"], fixes, options)
        return
    for key in ("grpc_cert_file", "grpc_key_file", "grpc_client_ca_file"):
        if options.pop(key) is not None:
            raise click.UsageError(f"--{key.replace('_', '-')} only makes sense with --serve-grpc")
    controller = hpa_controller_from(options)
    settings = settings_from_options(options, mode=options.pop("mode"), fixes=fixes, controller=controller)
    _log_start(settings, options)
    built = build_target(_target_options(settings, options))
    config = settings.config
    source = KafkaOffsetSource(
        settings.connection, OffsetQuery.for_trigger(config.trigger, config.fixes), timeout=options["timeout"]
    )
    _run(settings, built, source, options)


def _serve_grpc(listen: str, fixes: Fixes, options: dict[str, Any]) -> None:
    """KEDA computes replicas and asks us for the metric: no loop, no target (external mode)."""
    if options["config"] is not None or options["once"]:
        raise click.UsageError("--serve-grpc cannot be combined with --config or --once")
    # Lazy: grpc is slow to import and only this mode needs it.
    from scaler.grpc.server import serve_external_scaler  # noqa: PLC0415

    settings = scaler_settings(options, fixes)
    serve_external_scaler(
        listen,
        settings,
        options["max_workers"],
        listen_flag="--serve-grpc",
        metrics_host=options["metrics_host"],
        metrics_port=options["metrics_port"],
        tls=server_tls(options),
    )


def _log_start(settings: Settings, options: dict[str, Any]) -> None:
    """One line at once, before anything connects: what runs against what."""
    trigger = settings.config.trigger
    log_event(
        _log,
        "start",
        scaled_object=settings.name,
        target=options["target_kind"],
        mode=settings.config.mode,
        group=trigger.consumer_group,
        topic=trigger.topic or "(every topic the group committed)",
        lag_threshold=trigger.lag_threshold,
        hpa_sync_period=settings.config.controller.sync_period_seconds,
        connection=settings.connection.describe(),
        timeout=options["timeout"],
    )


def _target_options(settings: Settings, options: dict[str, Any]) -> TargetOptions:
    return TargetOptions(
        kind=options["target_kind"],
        trigger=settings.config.trigger,
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


def _run(settings: Settings, built: BuiltTarget, source: KafkaOffsetSource, options: dict[str, Any]) -> None:
    metrics = ScalerMetrics(settings.name, stale_after_seconds=_stale_after(settings, options["timeout"]))
    decisions: list[Decision] = []
    try:
        server = start_probe_server(
            options["metrics_host"], options["metrics_port"], metrics.health, metrics.render
        )
        try:
            loop = ScalingLoop(
                settings.config,
                source,
                built.target,
                on_decision=_fan_out(metrics.observe, decisions.append),
                created_ago=created_ago(settings.created_at),
            )
            if options["once"]:
                _once(loop, built, decisions)
            else:
                run_in_background(loop.run)
        finally:
            if server is not None:
                server.stop()
    finally:
        built.close()  # a second Ctrl+C here skips the rest of the cleanup
        source.close()


def _once(loop: ScalingLoop, built: BuiltTarget, decisions: list[Decision]) -> None:
    def step(stop: threading.Event) -> list[Decision]:
        return loop.step(stop)

    try:
        for decision in run_in_background(step) or []:
            _print_decision(decision)
    except TargetError as error:
        raise TargetError(f"{built.target.name}: {error}", retriable=error.retriable) from None
    if any(decision.error for decision in decisions):
        raise click.ClickException("the evaluation failed (see the error above)")


def created_ago(created_at: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds since metadata.creationTimestamp (the loop's clock is monotonic, not wall time)."""
    if created_at is None:
        return None
    return ((now or datetime.now(UTC)) - created_at).total_seconds()


def _stale_after(settings: Settings, timeout: float) -> float:
    """/healthz turns 503 when no decision arrived for three polls plus the retried fetches."""
    return 3 * settings.config.spec.polling_interval + 4 * timeout


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
