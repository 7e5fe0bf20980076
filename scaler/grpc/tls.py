"""TLS for the External Scaler gRPC server, as KEDA's external scaler expects it.

KEDA dials with TLS when the trigger sets `enableTLS: "true"` or its TriggerAuthentication gives
`caCert` (PEM: the CA that signed this server's certificate, added to the system roots) or
`tlsClientCert` + `tlsClientKey` (PEM: KEDA's client certificate). It checks the server's name
against the host in `scalerAddress` unless the trigger sets `unsafeSsl: "true"`. A client CA here
makes the server require and verify a client certificate (mutual TLS).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from kafkakit.errors import ConfigError, Problem


@dataclass(frozen=True)
class ServerTls:
    """Files of the server certificate chain, its key and (optional) the client CA, with the
    flags that named them (for errors)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    cert_flag: str = "--grpc-cert-file"
    key_flag: str = "--grpc-key-file"
    client_ca_flag: str = "--grpc-client-ca-file"

    @property
    def enabled(self) -> bool:
        return any((self.cert_file, self.key_file, self.client_ca_file))


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials | None:
    """gRPC server credentials, or None for plaintext. Every file is checked here so that a wrong
    one ends in one line naming its flag, not in a gRPC failure at the first handshake."""
    if not tls.enabled:
        return None
    if tls.cert_file is None or tls.key_file is None:
        missing = tls.key_flag if tls.key_file is None else tls.cert_flag
        raise ConfigError(
            Problem(missing, f"is required for TLS ({tls.cert_flag} and {tls.key_flag} go together)")
        )
    cert = _read(tls.cert_file, tls.cert_flag)
    key = _read(tls.key_file, tls.key_flag)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except ssl.SSLError as error:
        pair = f"{tls.cert_file} and {tls.key_file}"
        message = f"{pair} are not a PEM certificate and its private key ({error.reason})"
        raise ConfigError(Problem(tls.cert_flag, message)) from None
    client_ca = None
    if tls.client_ca_file is not None:
        client_ca = _read(tls.client_ca_file, tls.client_ca_flag)
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except ssl.SSLError as error:
            message = f"{tls.client_ca_file} holds no PEM CA certificate ({error.reason})"
            raise ConfigError(Problem(tls.client_ca_flag, message)) from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _read(path: Path, flag: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(Problem(flag, f"cannot read {path} ({error.strerror})")) from None
    if b"-----BEGIN " not in data:
        raise ConfigError(Problem(flag, f"{path} is not PEM (no -----BEGIN line)"))
    return data
