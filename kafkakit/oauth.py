"""OAuth 2.0 settings of a connection (SASL/OAUTHBEARER): where tokens come from and for whom.

Three ways to get a token, one per credential:

* a client secret: the client credentials grant (RFC 6749 §4.4), the secret sent by HTTP Basic;
* a client assertion file: the same grant, the client authenticated by a signed JWT read from the
  file (RFC 7523 §2.2), e.g. the Kubernetes service-account token that AKS workload identity
  projects into `AZURE_FEDERATED_TOKEN_FILE`;
* a token file: an access token someone else keeps fresh (a sidecar, `az account get-access-token`).

Event Hubs with Microsoft Entra ID derives the token endpoint from the tenant and the scope from
the namespace (`entra_oauth`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from kafkakit.errors import ConfigError
from kafkakit.secrets import register_secret

ENTRA_AUTHORITY = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class OAuthOptions:
    """OAuth settings as a person gave them (flags, environment, a trigger), not yet checked."""

    token_endpoint: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scope: str = ""
    extensions: str = ""
    client_assertion_file: str = ""
    token_file: str = ""
    tenant_id: str = ""
    authority_host: str = ""

    @property
    def given(self) -> bool:
        return any((self.token_endpoint, self.client_id, self.client_secret, self.token_file, self.tenant_id))


@dataclass(frozen=True)
class OAuthSettings:
    """Checked OAuth settings. The secret never appears in repr()."""

    token_endpoint: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    scope: str = ""
    extensions: tuple[tuple[str, str], ...] = ()
    client_assertion_file: str = ""
    token_file: str = ""

    @property
    def needs_callback(self) -> bool:
        """True when lagscale fetches the tokens itself (librdkafka's OIDC method knows only a
        client secret)."""
        return bool(self.client_assertion_file or self.token_file)

    def describe(self) -> str:
        """A log-safe summary."""
        if self.token_file:
            return f"oauth_token_file={self.token_file}"
        return f"oauth_client={self.client_id} token_endpoint={self.token_endpoint}"


def parse_extensions(text: str, setting: str = "--oauth-extensions") -> tuple[tuple[str, str], ...]:
    """`key=value,key=value` (SASL extensions, KIP-342)."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(",") if text.strip() else []:
        key, sep, value = item.partition("=")
        if not sep or not key or "=" in value:
            raise ConfigError(f"{setting}: each item must be key=value, got {item!r}")
        pairs.append((key, value))
    return tuple(pairs)


def oauth_settings(options: OAuthOptions) -> OAuthSettings:
    """Check the settings of the `oauthbearer` profile."""
    if options.token_file:
        _check_readable(options.token_file, "--oauth-token-file / LAGSCALE_OAUTH_TOKEN_FILE")
        return OAuthSettings("", options.client_id, token_file=options.token_file)
    if not options.token_endpoint.strip():
        raise ConfigError(
            "the oauthbearer profile needs --oauth-token-endpoint (the identity provider's token URL) "
            "or --oauth-token-file"
        )
    return _checked(options, options.token_endpoint.strip(), options.scope.strip())


def entra_oauth(options: OAuthOptions, namespace_host: str) -> OAuthSettings:
    """Event Hubs with Microsoft Entra ID: a service principal (secret) or a workload identity
    (federated token file) gets a token for `https://<namespace>/.default` from its tenant."""
    endpoint = options.token_endpoint.strip()
    if not endpoint:
        if not options.tenant_id.strip():
            raise ConfigError(
                "Event Hubs with Entra ID needs the tenant: pass --oauth-tenant-id (or set AZURE_TENANT_ID)"
            )
        authority = (options.authority_host.strip() or ENTRA_AUTHORITY).rstrip("/")
        endpoint = f"{authority}/{options.tenant_id.strip()}/oauth2/v2.0/token"
    scope = options.scope.strip()
    if not scope:
        if ".servicebus." not in namespace_host:
            raise ConfigError(
                f"cannot derive the Entra ID scope from {namespace_host!r} (not a *.servicebus.* host): "
                "pass --oauth-scope https://<namespace>.servicebus.windows.net/.default"
            )
        scope = f"https://{namespace_host}/.default"
    return _checked(options, endpoint, scope)


def _checked(options: OAuthOptions, endpoint: str, scope: str) -> OAuthSettings:
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"--oauth-token-endpoint must be an http(s) URL, got {endpoint!r}")
    if not options.client_id.strip():
        raise ConfigError("OAuth needs a client id: pass --oauth-client-id (or set AZURE_CLIENT_ID)")
    secret, assertion = options.client_secret, options.client_assertion_file
    if bool(secret) == bool(assertion):
        raise ConfigError(
            "OAuth needs exactly one client credential: --oauth-client-secret, or "
            "--oauth-client-assertion-file (AZURE_FEDERATED_TOKEN_FILE with workload identity)"
        )
    if assertion:
        _check_readable(assertion, "--oauth-client-assertion-file / AZURE_FEDERATED_TOKEN_FILE")
    register_secret(secret)
    return OAuthSettings(
        endpoint,
        options.client_id.strip(),
        secret,
        scope,
        parse_extensions(options.extensions),
        assertion,
    )


def _check_readable(path: str, setting: str) -> None:
    if not os.access(path, os.R_OK) or not os.path.isfile(path):
        raise ConfigError(f"cannot read {path!r}: fix {setting}")
