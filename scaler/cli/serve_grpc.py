"""`lagscale serve-grpc`: run the KEDA External Scaler gRPC server (scaler.grpc.service).

Point a ScaledObject trigger `type: external` (or `external-push`) at it with
`scalerAddress: <service>:<port>` and the Kafka trigger's usual metadata (docs/external-scaler.md).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from kafkakit.logs import configure_logging, log_event
from kafkakit.secrets import register_secret
from scaler.grpc.scalers import ScalerSettings, logger
from scaler.grpc.service import ExternalScalerService, start_server
from scaler.keda.fixes import FixesError, parse_fixes

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090  # templates/values.yaml scaler.grpcPort
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (only when asked for with `:PORT`, as in a pod)
_SECRET_PARAMS = ("password", "key", "keyPassword", "keytab")


def parse_listen_address(text: str) -> str:
    """`[HOST:]PORT` -> `host:port` for grpc: a bare `PORT` listens on 127.0.0.1, `:PORT` on every
    interface (what a pod needs), `HOST:PORT` on that host only."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    elif not host:
        host = ALL_INTERFACES
    if not port_text.isdigit() or int(port_text) > 65535:
        raise click.BadParameter(
            f"expected [HOST:]PORT such as 9090, :9090 or 127.0.0.1:9090, got {text!r}", param_hint="--listen"
        )
    return f"{host}:{int(port_text)}"


def read_auth_dir(directory: Path) -> dict[str, str]:
    """TriggerAuthentication parameters from a directory, one file per parameter (a mounted Secret:
    files `username`, `password`, `ca`...). KEDA does not forward these to external scalers."""
    if not directory.is_dir():
        raise click.BadParameter(f"{directory} is not a directory", param_hint="--auth-dir")
    params = {
        entry.name: entry.read_text().strip()
        for entry in sorted(directory.iterdir())
        if entry.is_file() and not entry.name.startswith(".")  # skip a Secret mount's ..data links
    }
    for name in _SECRET_PARAMS:
        register_secret(params.get(name))
    return params


def serve_external_scaler(listen: str, settings: ScalerSettings, max_workers: int = 32) -> None:
    """Serve `[HOST:]PORT` until SIGINT/SIGTERM (also what `lagscale scale --serve-grpc` calls)."""
    address = parse_listen_address(listen)
    service = ExternalScalerService(settings)
    try:
        server, port = start_server(service, address, max_workers=max_workers)
    except OSError as error:
        raise click.ClickException(str(error)) from None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"serving KEDA external scaler on {address.rpartition(':')[0]}:{port}", err=True)
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop(grace=5).wait()
        log_event(logger, "grpc_stopped", port=port)


@click.command("serve-grpc")
@click.option(
    "--listen",
    envvar="LAGSCALE_GRPC_LISTEN",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="[HOST:]PORT to serve on; `:PORT` = every interface (in a pod).",
)
@click.option("--fixes", "fixes_text", default="", help="Opt-in KEDA quirk fixes: comma list or 'all'.")
@click.option(
    "--auth-dir",
    type=click.Path(path_type=Path),
    envvar="LAGSCALE_GRPC_AUTH_DIR",
    default=None,
    help="Directory of TriggerAuthentication parameters, one file each (e.g. a mounted Secret).",
)
@click.option(
    "--stream-interval",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="StreamIsActive check interval, seconds (metadata streamIntervalSeconds overrides).",
)
@click.option(
    "--reuse-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Answer calls this close together from one evaluation (KEDA's GetMetrics + IsActive pair).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0.5), default=10.0, show_default=True, help="Broker timeout."
)
@click.option(
    "--max-workers", type=click.IntRange(min=2), default=32, show_default=True, help="Server threads."
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve_grpc(**options: Any) -> None:
    """Serve consumer-group lag to KEDA as an External Scaler (gRPC), KEDA-exact or drain-time."""
    configure_logging(options["verbose"])
    try:
        fixes = parse_fixes(options["fixes_text"])
    except FixesError as error:
        raise click.BadParameter(str(error), param_hint="--fixes") from None
    auth_dir: Path | None = options["auth_dir"]
    settings = ScalerSettings(
        fixes=fixes,
        kafka_timeout=options["timeout"],
        stream_interval=options["stream_interval"],
        reuse_seconds=options["reuse_seconds"],
        auth_params=read_auth_dir(auth_dir) if auth_dir else {},
    )
    serve_external_scaler(options["listen"], settings, options["max_workers"])
