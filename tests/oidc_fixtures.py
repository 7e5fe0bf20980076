"""The real local OpenID Connect provider started by `scripts/oidc`, for the OAUTHBEARER tests.

The session runs `scripts/oidc up` (well under a second once installed; `prepare` installs it) and,
if it was the one that started it, `scripts/oidc down` at the end. A provider that cannot start is
a test ERROR, never a skip. The broker's OAUTHBEARER listeners fetch its keys when a client first
authenticates, so the two may start in either order.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lagscale.demo.local_broker import parse_env_file

REPO_ROOT = Path(__file__).resolve().parent.parent
OIDC_SCRIPT = REPO_ROOT / "scripts" / "oidc"
SCRIPT_TIMEOUT_S = 300


@dataclass(frozen=True)
class OidcProvider:
    """The provider's endpoints and its test clients. Secrets are kept out of repr()."""

    issuer: str
    token_endpoint: str
    audience: str
    scope: str
    client_id: str
    client_secret: str = field(repr=False)
    short_client_id: str
    short_client_secret: str = field(repr=False)
    short_lifetime_s: int
    other_audience_client_id: str
    other_audience_client_secret: str = field(repr=False)
    assertion_client_id: str
    log_file: Path

    def assertion(self) -> str:
        """A fresh client assertion for the assertion client (what a projected service-account
        token is to Entra ID's workload identity)."""
        return run_oidc_script("assertion").stdout.strip()

    def issued(self, client_id: str, since: int = 0) -> int:
        """How many tokens the provider issued to `client_id` after log byte `since`."""
        text = self.log_file.read_bytes()[since:].decode(errors="replace")
        return sum(
            1
            for line in text.splitlines()
            if "event=token_issued" in line and f"client_id={client_id}" in line
        )

    def log_size(self) -> int:
        return self.log_file.stat().st_size


def run_oidc_script(verb: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(OIDC_SCRIPT), verb], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/oidc {verb} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result


def _env_file() -> Path:
    return Path(os.environ.get("LAGSCALE_STATE") or "/tmp/lagscale") / "oidc" / "oidc.env"


@pytest.fixture(scope="session")
def oidc() -> Iterator[OidcProvider]:
    running = subprocess.run([str(OIDC_SCRIPT), "status"], capture_output=True, check=False).returncode == 0
    if not running:
        run_oidc_script("up")
    values = parse_env_file(_env_file())
    try:
        yield OidcProvider(
            issuer=values["LAGSCALE_OIDC_ISSUER"],
            token_endpoint=values["LAGSCALE_OIDC_TOKEN_ENDPOINT"],
            audience=values["LAGSCALE_OIDC_AUDIENCE"],
            scope=values["LAGSCALE_OIDC_SCOPE"],
            client_id=values["LAGSCALE_OIDC_CLIENT_ID"],
            client_secret=values["LAGSCALE_OIDC_CLIENT_SECRET"],
            short_client_id=values["LAGSCALE_OIDC_SHORT_CLIENT_ID"],
            short_client_secret=values["LAGSCALE_OIDC_SHORT_CLIENT_SECRET"],
            short_lifetime_s=int(values["LAGSCALE_OIDC_SHORT_LIFETIME_S"]),
            other_audience_client_id=values["LAGSCALE_OIDC_OTHER_AUDIENCE_CLIENT_ID"],
            other_audience_client_secret=values["LAGSCALE_OIDC_OTHER_AUDIENCE_CLIENT_SECRET"],
            assertion_client_id=values["LAGSCALE_OIDC_ASSERTION_CLIENT_ID"],
            log_file=Path(values["LAGSCALE_OIDC_LOG_FILE"]),
        )
    finally:
        if not running:
            run_oidc_script("down")
