"""`lagscale serve-grpc`: run the KEDA External Scaler gRPC server (scaler.grpc.server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kafkakit.cli_options import VERBOSE, command, legacy_envvars, option
from kafkakit.logs import configure_logging
from scaler.cli.options import FIXES, TIMEOUT, fixes_from, grpc_tls_options, server_tls
from scaler.grpc.scalers import ScalerSettings
from scaler.grpc.server import DEFAULT_HOST, DEFAULT_PORT, read_auth_dir, serve_external_scaler


@legacy_envvars("LAGSCALE_GRPC")
@command("serve-grpc")
@option(
    "--listen",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="[HOST:]PORT to serve on; `:PORT` = every interface (in a pod).",
)
@FIXES()
@option(
    "--auth-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory of TriggerAuthentication parameters, one file each (e.g. a mounted Secret).",
)
@option(
    "--stream-interval",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="StreamIsActive check interval, seconds (metadata streamIntervalSeconds overrides).",
)
@option(
    "--reuse-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Answer calls this close together from one evaluation (KEDA's GetMetrics + IsActive pair).",
)
@grpc_tls_options()
@TIMEOUT()
@option("--max-workers", type=click.IntRange(min=2), default=32, show_default=True, help="Server threads.")
@VERBOSE()
def serve_grpc(**options: Any) -> None:
    """Serve consumer-group lag to KEDA as an External Scaler (gRPC), KEDA-exact or drain-time."""
    configure_logging(options["verbose"])
    auth_dir: Path | None = options["auth_dir"]
    settings = ScalerSettings(
        fixes=fixes_from(options["fixes_text"]),
        kafka_timeout=options["timeout"],
        stream_interval=options["stream_interval"],
        reuse_seconds=options["reuse_seconds"],
        auth_params=read_auth_dir(auth_dir) if auth_dir else {},
    )
    serve_external_scaler(options["listen"], settings, options["max_workers"], tls=server_tls(options))
