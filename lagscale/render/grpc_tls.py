"""TLS between KEDA and the external scaler in the rendered manifests (`scaler.grpcTls`).

The scaler serves gRPC with its certificate and, with `clientAuth`, requires KEDA's client
certificate (mutual TLS). KEDA learns what to trust and what to present from a
TriggerAuthentication with its external scaler's parameters (`caCert`, `tlsClientCert`,
`tlsClientKey`), and the trigger's `enableTLS: "true"` makes it dial TLS.

Both sides read `kubernetes.io/tls` Secrets (keys `tls.crt`, `tls.key`, `ca.crt`, as cert-manager
writes them), each `ca.crt` being the CA that signed that Secret's certificate: the server
Secret's is what KEDA checks the scaler with, the client Secret's what the scaler checks KEDA
with. Named Secrets are used as they are; otherwise lagscale renders them from PEM values.
"""

from __future__ import annotations

import re
from typing import Any

from kafkakit.secrets import mask

Values = dict[str, Any]
MOUNT_PATH = "/etc/lagscale/grpc-tls"
# The client CA is projected under another name than the server Secret's own ca.crt.
CLIENT_CA_FILE = "client-ca.crt"
_ROLES = ("server", "client")
_PEM_KEYS = {"server": ("serverCert", "serverKey"), "client": ("clientCert", "clientKey")}
_SECRET_KEYS = {"server": "serverSecret", "client": "clientSecret"}
# A Secret's name: a DNS-1123 subdomain.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def grpc_tls_names(instance: str) -> dict[str, str]:
    """Names of the objects this module renders (the Secrets only when no Secret is named)."""
    return {
        "scalerTls": f"{instance}-scaler-tls",
        "kedaClientTls": f"{instance}-keda-client-tls",
        "scalerAuth": f"{instance}-scaler-auth",
    }


def uses_grpc_tls(values: Values) -> bool:
    return values["scaler"]["mode"] == "external" and bool(values["scaler"]["grpcTls"]["enabled"])


def _roles(values: Values) -> tuple[str, ...]:
    return _ROLES if values["scaler"]["grpcTls"]["clientAuth"] else ("server",)


def secret_names(values: Values) -> dict[str, str]:
    """The Secret each side reads, by role: the one named in the values, or the rendered one."""
    tls = values["scaler"]["grpcTls"]
    names = grpc_tls_names(values["instance"])
    rendered = {"server": names["scalerTls"], "client": names["kedaClientTls"]}
    return {role: tls[_SECRET_KEYS[role]] or rendered[role] for role in _roles(values)}


def rendered_secret_roles(values: Values) -> tuple[str, ...]:
    """The roles whose Secret lagscale renders (no existing Secret named); none without TLS."""
    if not uses_grpc_tls(values):
        return ()
    tls = values["scaler"]["grpcTls"]
    return tuple(role for role in _roles(values) if not tls[_SECRET_KEYS[role]])


def _secret_data(values: Values, role: str, *, masked: bool) -> dict[str, str]:
    tls = values["scaler"]["grpcTls"]
    cert_key, key_key = _PEM_KEYS[role]
    key = mask(tls[key_key]) if masked else tls[key_key]
    return {"tls.crt": tls[cert_key], "tls.key": key, "ca.crt": tls["ca"]}


def scaler_tls_args(values: Values) -> list[str]:
    """The TLS flags of `lagscale scale --serve-grpc`, naming the files of the projected volume."""
    if not uses_grpc_tls(values):
        return []
    args = ["--grpc-cert-file", f"{MOUNT_PATH}/tls.crt", "--grpc-key-file", f"{MOUNT_PATH}/tls.key"]
    if values["scaler"]["grpcTls"]["clientAuth"]:
        args += ["--grpc-client-ca-file", f"{MOUNT_PATH}/{CLIENT_CA_FILE}"]
    return args


def _volume_sources(values: Values) -> list[dict[str, Any]]:
    """The scaler's one TLS directory: its certificate and key, and only the CA of KEDA's client
    certificate (never KEDA's key)."""
    names = secret_names(values)
    server_files = [{"key": key, "path": key} for key in ("tls.crt", "tls.key")]
    sources = [{"secret": {"name": names["server"], "items": server_files}}]
    if "client" in names:
        client_ca = [{"key": "ca.crt", "path": CLIENT_CA_FILE}]
        sources.append({"secret": {"name": names["client"], "items": client_ca}})
    return sources


def trigger_auth_refs(values: Values) -> list[dict[str, str]]:
    """KEDA's external scaler parameters, each from its Secret key."""
    names = secret_names(values)
    refs = [{"parameter": "caCert", "name": names["server"], "key": "ca.crt"}]
    if "client" in names:
        refs += [
            {"parameter": "tlsClientCert", "name": names["client"], "key": "tls.crt"},
            {"parameter": "tlsClientKey", "name": names["client"], "key": "tls.key"},
        ]
    return refs


def grpc_tls_context(values: Values, *, masked: bool) -> dict[str, Any] | None:
    """What the templates use, or None without TLS."""
    if not uses_grpc_tls(values):
        return None
    names = secret_names(values)
    return {
        "mount_path": MOUNT_PATH,
        "volume_sources": _volume_sources(values),
        "trigger_auth_refs": trigger_auth_refs(values),
        "secrets": {
            role: {"name": names[role], "data": _secret_data(values, role, masked=masked)}
            for role in rendered_secret_roles(values)
        },
    }


def grpc_tls_problems(values: Values) -> list[str]:
    """What makes `scaler.grpcTls` unusable (only when it is on)."""
    tls = values["scaler"]["grpcTls"]
    if not tls["enabled"]:
        return []
    if values["scaler"]["mode"] != "external":
        return [
            "scaler.grpcTls.enabled: only the external mode serves gRPC; set scaler.mode=external "
            "or scaler.grpcTls.enabled=false"
        ]
    problems: list[str] = []
    for role in _roles(values):
        secret_key, named = f"scaler.grpcTls.{_SECRET_KEYS[role]}", tls[_SECRET_KEYS[role]]
        if named:
            if not _SUBDOMAIN.fullmatch(named):
                problems.append(f"{secret_key}: {named!r} is not a Secret name (a DNS subdomain)")
            problems += [
                f"scaler.grpcTls.{key}: not used with {secret_key}; leave one of them empty"
                for key in _PEM_KEYS[role]
                if tls[key]
            ]
            continue
        problems += _pem_problems("ca", tls["ca"], "PEM text of the CA that signed the certificates")
        for key in _PEM_KEYS[role]:
            problems += _pem_problems(key, tls[key], f"PEM text, or name an existing Secret in {secret_key}")
    if not tls["clientAuth"]:
        problems += [
            f"scaler.grpcTls.{key}: not used with scaler.grpcTls.clientAuth=false; leave it empty"
            for key in ("clientSecret", *_PEM_KEYS["client"])
            if tls[key]
        ]
    if tls["ca"] and not rendered_secret_roles(values):
        problems.append("scaler.grpcTls.ca: not used when every Secret is named; leave it empty")
    return list(dict.fromkeys(problems))  # `ca` serves both rendered Secrets: report it once


def _pem_problems(key: str, text: str, wanted: str) -> list[str]:
    if not text.strip():
        return [f"scaler.grpcTls.{key}: set it ({wanted})"]
    if "-----BEGIN " not in text:
        return [f"scaler.grpcTls.{key}: is not PEM (no -----BEGIN line)"]
    return []
