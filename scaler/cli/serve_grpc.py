"""`lagscale serve-grpc`: run the KEDA External Scaler gRPC server (scaler.grpc.server)."""

from __future__ import annotations

from typing import Any

from kafkakit.cli_options import METRICS_HOST, METRICS_PORT, VERBOSE, command, legacy_envvars, option
from kafkakit.logs import configure_logging
from scaler.cli.external import scaler_settings, server_options
from scaler.cli.options import FIXES, TIMEOUT, fixes_from, grpc_tls_options, server_tls
from scaler.grpc.server import DEFAULT_HOST, DEFAULT_PORT, serve_external_scaler


@legacy_envvars("LAGSCALE_GRPC")
@command("serve-grpc")
@option(
    "--listen",
    default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
    show_default=True,
    help="[HOST:]PORT to serve on; `:PORT` = every interface (in a pod).",
)
@FIXES()
@server_options()
@grpc_tls_options()
@TIMEOUT()
@METRICS_PORT(
    help="Serve /healthz and /metrics (ScaledObjects, Kafka clients, rounds) on this port (0 = off)."
)
@METRICS_HOST()
@VERBOSE()
def serve_grpc(**options: Any) -> None:
    """Serve consumer-group lag to KEDA as an External Scaler (gRPC), KEDA-exact or drain-time,
    for one ScaledObject or a whole cluster's (one shared Kafka client per connection)."""
    configure_logging(options["verbose"])
    settings = scaler_settings(options, fixes_from(options["fixes_text"]))
    serve_external_scaler(
        options["listen"],
        settings,
        options["max_workers"],
        metrics_host=options["metrics_host"],
        metrics_port=options["metrics_port"],
        tls=server_tls(options),
    )
