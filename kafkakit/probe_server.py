"""`/healthz` and `/metrics` over HTTP from a daemon thread: what the consumer and the scaler serve
to Kubernetes probes and to Prometheus. The apps say what is healthy and what the metrics are.
Only apps that ship prometheus-client import this module (the producer image does not)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from kafkakit.errors import SetupError

HealthCheck = Callable[[], tuple[bool, str]]  # (healthy, reason shown in the reply)
MetricsText = Callable[[], bytes]  # the Prometheus exposition text


def _handler(health: HealthCheck, metrics: MetricsText) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                healthy, reason = health()
                self._reply(200 if healthy else 503, "text/plain", f"{reason}\n".encode())
            elif path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, metrics())
            else:
                self._reply(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes and scrapes every few seconds would flood the log."""

    return Handler


class ProbeServer:
    """Serves both paths until `stop()`; `port=0` picks a free port (see `.port`). Raises OSError
    when the address cannot be bound."""

    def __init__(self, host: str, port: int, health: HealthCheck, metrics: MetricsText) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(health, metrics))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="probes", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_probe_server(host: str, port: int, health: HealthCheck, metrics: MetricsText) -> ProbeServer | None:
    """/healthz and /metrics on host:port (None when port is 0); a port in use is a clear error."""
    if not port:
        return None
    try:
        return ProbeServer(host, port, health, metrics)
    except OSError as error:
        message = f"cannot serve on {host}:{port} ({error.strerror}): pick another --metrics-port"
        raise SetupError(f"--metrics-port: {message}") from None
