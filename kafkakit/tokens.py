"""Access tokens for SASL/OAUTHBEARER that lagscale fetches itself, and the two client hooks that
hand them over: kafka-python's token provider and confluent-kafka's `oauth_cb`.

librdkafka fetches client-secret tokens on its own (`sasl.oauthbearer.method=oidc`); everything
else comes through a `TokenSource`: kafka-python always, librdkafka for a client assertion
(workload identity) or a token file. A token is reused until 80% of its lifetime has passed (the
point at which librdkafka refreshes its own), so a client never presents an expired one.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafkakit.errors import BrokerError
from kafkakit.oauth import OAuthSettings
from kafkakit.secrets import forget_secret, register_secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REFRESH_AT = 0.8  # of a token's lifetime
_HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # seconds since the epoch
    principal: str
    obtained_at: float

    def due(self, now: float) -> bool:
        return now >= self.obtained_at + REFRESH_AT * (self.expires_at - self.obtained_at)


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the broker verifies); {} when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


class TokenSource:
    """Tokens for one OAuth client, cached and refreshed before they expire. Thread-safe."""

    def __init__(self, settings: OAuthSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._current: AccessToken | None = None

    def token(self) -> AccessToken:
        """The cached token, or a new one once 80% of its lifetime has passed."""
        with self._lock:
            if self._current is None or self._current.due(self._clock()):
                self._replace(self._fetch())
            assert self._current is not None
            return self._current

    def _replace(self, token: AccessToken) -> None:
        if self._current is not None:
            forget_secret(self._current.value)
        register_secret(token.value)
        self._current = token

    def _fetch(self) -> AccessToken:
        now = self._clock()
        if self.settings.token_file:
            return self._from_file(now)
        payload = self._request()
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise BrokerError(
                f"the token endpoint {self.settings.token_endpoint} answered without an access_token"
            )
        register_secret(value)
        claims = jwt_claims(value)
        lifetime = payload.get("expires_in")
        expires_at = now + float(lifetime) if isinstance(lifetime, int | float) else claims.get("exp")
        if not isinstance(expires_at, int | float):
            raise BrokerError(
                f"the token endpoint {self.settings.token_endpoint} gave neither expires_in nor a JWT exp"
            )
        return self._checked(value, float(expires_at), claims, now, f"from {self.settings.token_endpoint}")

    def _from_file(self, now: float) -> AccessToken:
        path = self.settings.token_file
        value = _read_secret_file(path, "the OAuth token file")
        claims = jwt_claims(value)
        if not isinstance(claims.get("exp"), int | float):
            raise BrokerError(
                f"the OAuth token in {path!r} is not a JWT with an exp claim: fix --oauth-token-file",
                retriable=False,
            )
        return self._checked(value, float(claims["exp"]), claims, now, f"in {path!r}")

    def _checked(
        self, value: str, expires_at: float, claims: dict[str, Any], now: float, where: str
    ) -> AccessToken:
        if expires_at <= now:
            moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
            raise BrokerError(
                f"the OAuth token {where} expired at {moment} ({now - expires_at:.0f}s ago): "
                "refresh it, or check this machine's clock",
                retriable=bool(self.settings.token_file),
            )
        principal = str(claims.get("sub") or self.settings.client_id or "lagscale")
        return AccessToken(value, expires_at, principal, now)

    def _request(self) -> dict[str, Any]:
        settings = self.settings
        form = {"grant_type": "client_credentials"}
        if settings.scope:
            form["scope"] = settings.scope
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if settings.client_assertion_file:
            form.update(
                client_id=settings.client_id,
                client_assertion_type=ASSERTION_TYPE,
                client_assertion=self._assertion(),
            )
        else:  # RFC 6749 §2.3.1: both parts form-encoded, then HTTP Basic
            user = urllib.parse.quote(settings.client_id, safe="")
            secret = urllib.parse.quote(settings.client_secret, safe="")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 - the endpoint's scheme is checked: http(s)
            settings.token_endpoint, urllib.parse.urlencode(form).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:  # noqa: S310 - http(s) checked
                return _json_object(response.read())
        except urllib.error.HTTPError as error:
            raise self._refused(error.code, _json_object(error.read())) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise BrokerError(
                f"cannot reach the token endpoint {settings.token_endpoint} ({reason}): "
                "check --oauth-token-endpoint"
            ) from None

    def _assertion(self) -> str:
        # Re-read every time: the kubelet rotates the projected token in place.
        return _read_secret_file(self.settings.client_assertion_file, "the client assertion")

    def _refused(self, status: int, body: dict[str, Any]) -> BrokerError:
        code = str(body.get("error") or f"HTTP {status}")
        description = str(body.get("error_description") or "").strip()
        hint = {
            "invalid_client": "check --oauth-client-id and its secret or assertion",
            "unauthorized_client": "the client may not use the client credentials grant",
            "invalid_scope": "check --oauth-scope",
        }.get(code, "check the OAuth settings")
        detail = f"{code}: {description}" if description else code
        return BrokerError(
            f"the token endpoint {self.settings.token_endpoint} refused client {self.settings.client_id!r} "
            f"({detail}): {hint}",
            retriable=status >= 500,
        )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def confluent_oauth_cb(source: TokenSource) -> Callable[[str], tuple[str, float, str, dict[str, str]]]:
    """confluent-kafka's `oauth_cb`: called by librdkafka when it wants a token, at start and at 80%
    of the current one's lifetime (by then the source's cache is due as well)."""

    def refresh(_oauthbearer_config: str) -> tuple[str, float, str, dict[str, str]]:
        token = source.token()
        return token.value, token.expires_at, token.principal, dict(source.settings.extensions)

    return refresh


def kafka_python_token_provider(source: TokenSource) -> Any:
    """kafka-python's `sasl_oauth_token_provider` backed by `source` (imported lazily: kafka-python
    is loaded only by the code that uses it)."""
    from kafka.net.sasl.oauth import AbstractTokenProvider  # noqa: PLC0415

    class Provider(AbstractTokenProvider):  # type: ignore[misc]
        def token(self) -> str:
            return source.token().value

        def extensions(self) -> dict[str, str]:
            return dict(source.settings.extensions)

    return Provider()


def _read_secret_file(path: str, what: str) -> str:
    """A token kept in a file (stripped), registered for redaction before anything can log it."""
    try:
        with open(path, encoding="utf-8") as file:
            value = file.read().strip()
    except OSError as error:
        raise BrokerError(f"cannot read {what} {path!r}: {error.strerror}", retriable=False) from None
    register_secret(value)
    return value
