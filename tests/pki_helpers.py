"""A throwaway PKI made with the `openssl` command, for the tests of the external scaler's TLS: a CA,
the scaler's server certificate, KEDA's client certificate, and a client certificate from another
CA (which the scaler must refuse)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(cwd: Path, subject: str) -> None:
    """`ca.key` + `ca.pem` in `cwd`."""
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
            "-out", "ca.pem", "-subj", f"/CN={subject}", cwd=cwd)  # fmt: skip


def issue(cwd: Path, name: str, usage: str, san: str = "") -> None:
    """`name.key` + `name.pem`, signed by the CA in `cwd`; `usage` is the extended key usage."""
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip
    extensions = [f"extendedKeyUsage={usage}", *([f"subjectAltName={san}"] if san else [])]
    (cwd / f"{name}.ext").write_text("\n".join(extensions) + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=cwd)  # fmt: skip


def make_pki(cwd: Path, server_names: str) -> Path:
    """`cwd`: ca.pem, server.pem/.key for `server_names` (a subjectAltName value such as
    `IP:127.0.0.1`), keda.pem/.key (client); `cwd/other`: another CA and its stranger.pem/.key."""
    make_ca(cwd, "lagscale test CA")
    issue(cwd, "server", "serverAuth", server_names)
    issue(cwd, "keda", "clientAuth")
    other = cwd / "other"
    other.mkdir()
    make_ca(other, "another CA")
    issue(other, "stranger", "clientAuth")
    return cwd
