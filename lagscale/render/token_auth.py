"""Token auth (SASL/OAUTHBEARER, OAuth 2.0 client credentials) in the rendered manifests.

Used when `kafka.sasl` is `oauthbearer` (profile kafka) or `eventhubs.auth` is `entra` (profile
eventhubs, Microsoft Entra ID). The Secret's keys are KEDA's parameter names, so the
TriggerAuthentication maps each key to itself and the external scaler reads them as files; the
apps get the same values through their LAGSCALE_OAUTH_* variables.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from kafkakit.oauth import ENTRA_AUTHORITY
from kafkakit.secrets import mask

Values = dict[str, Any]
CLIENT_ID_PLACEHOLDER = "<oauth-client-id>"
CLIENT_SECRET_PLACEHOLDER = "<oauth-client-secret>"  # noqa: S105 - a placeholder
TOKEN_ENDPOINT_PLACEHOLDER = "https://<identity-provider>/token"  # noqa: S105 - a placeholder
TENANT_PLACEHOLDER = "<tenant-id>"


def uses_oauth(profile: str, values: Values) -> bool:
    if profile == "eventhubs":
        return bool(values["eventhubs"]["auth"] == "entra")
    return bool(values["kafka"]["sasl"] == "oauthbearer")


def token_endpoint(profile: str, values: Values) -> str:
    oauth = values["oauth"]
    if oauth["tokenEndpoint"]:
        return str(oauth["tokenEndpoint"])
    if profile == "eventhubs":
        return f"{ENTRA_AUTHORITY}/{oauth['tenantId'] or TENANT_PLACEHOLDER}/oauth2/v2.0/token"
    return TOKEN_ENDPOINT_PLACEHOLDER


def scopes(profile: str, values: Values, host: str) -> list[str]:
    """KEDA's `scopes` (split on commas, not trimmed); Event Hubs' `.default` scope by default."""
    text = str(values["oauth"]["scopes"])
    if not text and profile == "eventhubs":
        return [f"https://{host}/.default"]
    return text.split(",") if text else []


def oauth_secret_data(profile: str, values: Values, host: str, *, masked: bool) -> dict[str, str]:
    oauth = values["oauth"]
    secret = oauth["clientSecret"]
    data = {
        "sasl": "oauthbearer",
        "tls": "enable" if profile == "eventhubs" else "disable",
        "saslTokenProvider": "bearer",
        "username": oauth["clientId"] or CLIENT_ID_PLACEHOLDER,
        "password": (mask(secret) if masked else secret) if secret else CLIENT_SECRET_PLACEHOLDER,
        "oauthTokenEndpointUri": token_endpoint(profile, values),
        "scopes": ",".join(scopes(profile, values, host)),
    }
    if oauth["extensions"]:
        data["oauthExtensions"] = oauth["extensions"]
    return data


def oauth_env(profile: str, values: Values, host: str, secret: str) -> list[dict[str, Any]]:
    """The apps' token settings: credentials from the Secret, the rest as values."""

    def from_secret(name: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    env: list[dict[str, Any]] = []
    if profile == "eventhubs":
        env.append({"name": "LAGSCALE_EVENTHUBS_AUTH", "value": "entra"})
    env += [
        from_secret("LAGSCALE_OAUTH_TOKEN_ENDPOINT", "oauthTokenEndpointUri"),
        from_secret("LAGSCALE_OAUTH_CLIENT_ID", "username"),
        from_secret("LAGSCALE_OAUTH_CLIENT_SECRET", "password"),
        # OAuth's scope parameter is space-separated; KEDA's `scopes` is the same list with commas.
        {"name": "LAGSCALE_OAUTH_SCOPE", "value": " ".join(scopes(profile, values, host))},
    ]
    if values["oauth"]["extensions"]:
        env.append({"name": "LAGSCALE_OAUTH_EXTENSIONS", "value": values["oauth"]["extensions"]})
    return env


def oauth_problems(profile: str, values: Values) -> list[str]:
    """What makes token auth unusable in these values (only when it is on)."""
    if not uses_oauth(profile, values):
        return []
    problems = []
    endpoint = values["oauth"]["tokenEndpoint"]
    url = urlparse(endpoint)
    if endpoint and (url.scheme not in ("http", "https") or not url.hostname):
        problems.append(f"oauth.tokenEndpoint: {endpoint!r} must be an http(s) URL")
    for item in filter(None, str(values["oauth"]["extensions"]).split(",")):
        if item.count("=") != 1:
            problems.append(f"oauth.extensions: {item!r} must be key=value (KEDA's oauthExtensions)")
    if profile == "kafka":
        kafka = values["kafka"]
        if kafka["broker"]["enabled"]:
            problems.append(
                "kafka.broker.enabled: the in-cluster broker accepts no OAuth tokens; with kafka.sasl "
                "oauthbearer set kafka.bootstrapServers to your cluster and kafka.broker.enabled=false"
            )
        if kafka["topic"]["create"]:
            problems.append(
                "kafka.topic.create: the topic Job cannot log in with OAUTHBEARER; create the topic "
                "yourself and set kafka.topic.create=false"
            )
    return problems
