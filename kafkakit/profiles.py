"""Connection profiles: how to reach a Kafka cluster, independent of the client library.

Six kinds: `plaintext`, `sasl_plain` (SASL_PLAINTEXT + PLAIN), `sasl_ssl` (SASL_SSL + PLAIN),
`scram` (SCRAM-SHA-256/512, over TLS when `tls` is set), `oauthbearer` (OAUTHBEARER with OAuth 2.0
tokens, over TLS when `tls` is set) and `eventhubs` (Azure Event Hubs, SASL_SSL: PLAIN with a
connection string, user `$ConnectionString`, or OAUTHBEARER with Microsoft Entra ID tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from kafkakit.errors import ConfigError
from kafkakit.oauth import OAuthOptions, OAuthSettings, entra_oauth, oauth_settings
from kafkakit.secrets import register_secret

PROFILE_KINDS = ("plaintext", "sasl_plain", "sasl_ssl", "scram", "oauthbearer", "eventhubs")
EVENTHUBS_AUTH_MODES = ("connection-string", "entra")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
EVENTHUBS_USERNAME = "$ConnectionString"
EVENTHUBS_KAFKA_PORT = 9093
_MAX_PORT = 65535


@dataclass(frozen=True)
class EventHubsConnection:
    """The parts of an Event Hubs connection string that matter to a Kafka client."""

    namespace_host: str
    key_name: str
    entity_path: str = ""

    @property
    def bootstrap(self) -> str:
        return f"{self.namespace_host}:{EVENTHUBS_KAFKA_PORT}"


def parse_connection_string(text: str) -> EventHubsConnection:
    """Parse `Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=..;SharedAccessKey=..`."""
    parts: dict[str, str] = {}
    for item in text.strip().split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                "malformed Event Hubs connection string: expected `Name=value` items separated by `;` "
                "(copy it from the portal: Shared access policies > Connection string-primary key)"
            )
        parts[name.strip().lower()] = value.strip()
    endpoint = parts.get("endpoint", "")
    if not endpoint:
        raise ConfigError("malformed Event Hubs connection string: `Endpoint=sb://<namespace>...` is missing")
    url = urlparse(endpoint)
    if url.scheme != "sb" or not url.hostname:
        raise ConfigError(
            "malformed Event Hubs connection string: Endpoint must look like "
            "`sb://<namespace>.servicebus.windows.net/`"
        )
    if ".servicebus." not in url.hostname:
        raise ConfigError(
            f"Event Hubs endpoint host {url.hostname!r} is not a `*.servicebus.*` namespace host"
        )
    for required in ("sharedaccesskeyname", "sharedaccesskey"):
        if not parts.get(required):
            raise ConfigError(
                "malformed Event Hubs connection string: SharedAccessKeyName and SharedAccessKey "
                "are required (generated SAS tokens are not accepted by the Kafka endpoint)"
            )
    return EventHubsConnection(url.hostname, parts["sharedaccesskeyname"], parts.get("entitypath", ""))


@dataclass(frozen=True)
class ConnectionProfile:
    """Everything needed to open a connection. Secrets never appear in repr()."""

    kind: str
    bootstrap_servers: tuple[str, ...]
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: str = ""
    scram_mechanism: str = "SCRAM-SHA-512"
    tls: bool = False
    verify_tls: bool = True
    oauth: OAuthSettings | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    @property
    def security_protocol(self) -> str:
        if self.kind == "plaintext":
            return "SSL" if self.tls else "PLAINTEXT"
        if self.kind == "sasl_plain":
            return "SASL_PLAINTEXT"
        if self.kind in ("scram", "oauthbearer") and not self.tls:
            return "SASL_PLAINTEXT"
        return "SASL_SSL"

    @property
    def sasl_mechanism(self) -> str | None:
        if self.kind == "plaintext":
            return None
        if self.oauth is not None:
            return "OAUTHBEARER"
        return self.scram_mechanism if self.kind == "scram" else "PLAIN"

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def is_eventhubs(self) -> bool:
        return self.kind == "eventhubs"

    def describe(self) -> str:
        """A one-line summary that is safe to log."""
        auth = f" user={self.username}" if self.username else ""
        if self.oauth is not None:
            auth = f" {self.oauth.describe()}"
        return f"profile={self.kind} bootstrap={self.bootstrap} protocol={self.security_protocol}{auth}"


def _split_bootstrap(text: str) -> tuple[str, ...]:
    servers = tuple(item.strip() for item in text.split(",") if item.strip())
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"bootstrap server {server!r} must be `host:port`")
        if not 1 <= int(port) <= _MAX_PORT:
            raise ConfigError(f"bootstrap server {server!r}: the port must be between 1 and {_MAX_PORT}")
    return servers


def _check_ca_file(profile: ConnectionProfile) -> ConnectionProfile:
    """Fail early, in the words of the setting, when TLS would need a CA file that cannot be read
    (librdkafka would otherwise refuse to create the client with a long traceback)."""
    if profile.uses_tls and profile.ca_file:
        try:
            with open(profile.ca_file, "rb"):
                pass
        except OSError as error:
            raise ConfigError(
                f"cannot read the CA file {profile.ca_file!r} ({error.strerror}): "
                "fix --ca-file / LAGSCALE_CA_FILE"
            ) from None
    return profile


def build_profile(
    kind: str | None,
    *,
    bootstrap: str = "",
    username: str = "",
    password: str = "",
    connection_string: str = "",
    ca_file: str = "",
    scram_mechanism: str = "SCRAM-SHA-512",
    tls: bool = False,
    verify_tls: bool = True,
    oauth: OAuthOptions | None = None,
    eventhubs_auth: str = "connection-string",
) -> ConnectionProfile:
    """Validate settings and build a profile. `kind=None` picks `eventhubs` when a connection string
    is given (the tutorial's env vars), else `plaintext`. `oauth` holds the token settings of the
    `oauthbearer` profile and of `eventhubs` with `eventhubs_auth="entra"`."""
    if not connection_string and password.strip().lower().startswith("endpoint=sb://"):
        connection_string = password  # the tutorial's consumer passes it as KAFKA_EVENTHUB_PASSWORD
    if kind is None or kind == "":
        kind = "eventhubs" if connection_string else "plaintext"
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"unknown profile {kind!r}: choose one of {', '.join(PROFILE_KINDS)}")
    if kind == "eventhubs" and eventhubs_auth == "entra":
        return _entra_profile(bootstrap, oauth or OAuthOptions(), ca_file, verify_tls)
    if kind == "eventhubs":
        return _eventhubs_profile(bootstrap, connection_string, ca_file, verify_tls)
    if not bootstrap.strip():
        raise ConfigError("no bootstrap servers: pass --bootstrap host:port (or set KAFKA_EVENTHUB_ENDPOINT)")
    servers = _split_bootstrap(bootstrap)
    if kind == "oauthbearer":
        settings = oauth_settings(oauth or OAuthOptions())
        return _check_ca_file(
            ConnectionProfile(kind, servers, ca_file=ca_file, tls=tls, verify_tls=verify_tls, oauth=settings)
        )
    if kind != "plaintext" and not (username and password):
        raise ConfigError(f"profile {kind!r} needs --username and --password")
    if kind == "scram" and scram_mechanism not in SCRAM_MECHANISMS:
        raise ConfigError(f"unknown SCRAM mechanism {scram_mechanism!r}: use {' or '.join(SCRAM_MECHANISMS)}")
    register_secret(password)
    return _check_ca_file(
        ConnectionProfile(kind, servers, username, password, ca_file, scram_mechanism, tls, verify_tls)
    )


def _eventhubs_profile(
    bootstrap: str, connection_string: str, ca_file: str, verify_tls: bool
) -> ConnectionProfile:
    if not connection_string.strip():
        raise ConfigError(
            "profile 'eventhubs' needs a connection string: set KAFKA_EVENTHUB_CONNECTION_STRING "
            "or pass --connection-string"
        )
    connection = parse_connection_string(connection_string)
    register_secret(connection_string.strip())
    # An explicit endpoint wins (e.g. a private endpoint, or the local Event-Hubs-shaped listener).
    servers = _split_bootstrap(bootstrap) if bootstrap.strip() else (connection.bootstrap,)
    return _check_ca_file(
        ConnectionProfile(
            "eventhubs",
            servers,
            EVENTHUBS_USERNAME,
            connection_string.strip(),
            ca_file,
            tls=True,
            verify_tls=verify_tls,
        )
    )


def _entra_profile(bootstrap: str, oauth: OAuthOptions, ca_file: str, verify_tls: bool) -> ConnectionProfile:
    """Event Hubs with Microsoft Entra ID: SASL_SSL + OAUTHBEARER, no connection string. The
    namespace comes from the endpoint (`<namespace>.servicebus.windows.net:9093`)."""
    if not bootstrap.strip():
        raise ConfigError(
            "Event Hubs with Entra ID needs the namespace endpoint: pass --bootstrap "
            "<namespace>.servicebus.windows.net:9093 (or set KAFKA_EVENTHUB_ENDPOINT)"
        )
    servers = _split_bootstrap(bootstrap)
    settings = entra_oauth(oauth, servers[0].rpartition(":")[0])
    return _check_ca_file(
        ConnectionProfile(
            "eventhubs", servers, ca_file=ca_file, tls=True, verify_tls=verify_tls, oauth=settings
        )
    )
