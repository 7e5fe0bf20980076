"""The KEDA External Scaler gRPC server (scaler.grpc.service) around its listen address and the
TriggerAuthentication parameters KEDA does not forward: what `lagscale serve-grpc` and
`lagscale scale --serve-grpc` run.

Point a ScaledObject trigger `type: external` (or `external-push`) at it with
`scalerAddress: <service>:<port>` and the Kafka trigger's usual metadata (docs/external-scaler.md).
"""

from __future__ import annotations

import signal
import sys
import threading

from kafkakit.errors import ConfigError, Problem, SetupError
from kafkakit.logs import log_event
from kafkakit.probe_server import start_probe_server
from scaler.grpc.metrics import ServerMetrics
from scaler.grpc.scalers import ScalerSettings, logger
from scaler.grpc.service import ExternalScalerService, start_server
from scaler.grpc.tls import ServerTls, server_credentials

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090  # lagscale/render/templates/values.yaml scaler.grpcPort
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (only when asked for with `:PORT`, as in a pod)
# On SIGTERM (a pod stopping) calls in flight may finish; Ctrl+C ends within a second.
_STOP_GRACE_SECONDS: dict[int, float] = {signal.SIGTERM: 5.0, signal.SIGINT: 0.5}


def parse_listen_address(text: str, flag: str = "--listen") -> str:
    """`[HOST:]PORT` -> `host:port` for grpc: a bare `PORT` listens on 127.0.0.1, `:PORT` on every
    interface (what a pod needs), `HOST:PORT` on that host only."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    elif not host:
        host = ALL_INTERFACES
    if not port_text.isdigit() or int(port_text) > 65535:
        message = f"expected [HOST:]PORT such as 9090, :9090 or 127.0.0.1:9090, got {text!r}"
        raise ConfigError(Problem(flag, message))
    return f"{host}:{int(port_text)}"


def serve_external_scaler(
    listen: str,
    settings: ScalerSettings,
    max_workers: int = 32,
    *,
    listen_flag: str = "--listen",
    metrics_host: str = DEFAULT_HOST,
    metrics_port: int = 0,
    tls: ServerTls | None = None,
) -> None:
    """Serve `[HOST:]PORT` (over TLS when `tls` names files) until SIGTERM (ends normally) or
    Ctrl+C (KeyboardInterrupt); with a `metrics_port`, /healthz and /metrics there too (plain HTTP)."""
    address = parse_listen_address(listen, listen_flag)
    tls = tls or ServerTls()
    credentials = server_credentials(tls)
    service = ExternalScalerService(settings)
    metrics = ServerMetrics(service.registry)
    probes = start_probe_server(metrics_host, metrics_port, metrics.health, metrics.render)
    try:
        server, port = start_server(service, address, max_workers=max_workers, credentials=credentials)
    except OSError as error:
        if probes is not None:
            probes.stop()
        raise SetupError(f"{listen_flag}: {error}") from None
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_GRACE_SECONDS}
    over = (
        " over TLS" + (" (client certificates required)" if tls.client_ca_file else "") if credentials else ""
    )
    print(
        f"serving KEDA external scaler on {address.rpartition(':')[0]}:{port}{over}",
        file=sys.stderr,
        flush=True,
    )
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop(grace=_STOP_GRACE_SECONDS[received[0]] if received else 0).wait()
        service.close()
        if probes is not None:
            probes.stop()
        log_event(logger, "grpc_stopped", port=port)
    if signal.SIGINT in received:
        raise KeyboardInterrupt
