"""Turn a ConnectionProfile into client configuration: one function per client library.

Event Hubs gets Microsoft's recommended settings (see docs/eventhubs.md): keep-alive on, metadata
refreshed before Azure's 240 s idle cut-off, 60 s request timeout, 30 s session timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from kafkakit.logs import log_event
from kafkakit.oauth import OAuthSettings
from kafkakit.profiles import ConnectionProfile
from kafkakit.tokens import TokenSource, confluent_oauth_cb, kafka_python_token_provider

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

Role = Literal["producer", "consumer", "admin"]

# Event Hubs closes connections idle for more than 240 s; stay well below.
_EVENTHUBS_IDLE_MS = 180_000
# The service rejects requests above 1,046,528 bytes.
_EVENTHUBS_MAX_REQUEST_BYTES = 1_000_000

_librdkafka_logger = logging.getLogger("librdkafka")


def _log_client_error(error: KafkaError) -> None:
    """librdkafka's error callback: one structured line (the formatter redacts it)."""
    log_event(_librdkafka_logger, "client_error", logging.WARNING, error=error.str())


def confluent_config(profile: ConnectionProfile, role: Role) -> dict[str, Any]:
    """librdkafka (confluent-kafka) properties for `role`. A caller that really wants the broker to
    create missing topics on metadata requests sets `allow.auto.create.topics` back to True."""
    config: dict[str, Any] = {
        "bootstrap.servers": profile.bootstrap,
        "security.protocol": profile.security_protocol,
        # Without these, librdkafka prints raw `%3|...` lines that bypass our formatter and redaction.
        "logger": _librdkafka_logger,
        "error_cb": _log_client_error,
        # Producer-type handles (AdminClient included) otherwise ask the broker to auto-create any
        # topic they request metadata for: a missing topic must stay an error.
        "allow.auto.create.topics": False,
        # librdkafka waits reconnect.backoff.ms / 2 (50 ms by default) before connecting to the
        # broker that the bootstrap metadata named: at start-up, a sixth of a 100k-event producer
        # run. 22 ms gives its minimum wait, 11 ms; backoff after real failures still grows
        # exponentially up to 10 s.
        "reconnect.backoff.ms": 22,
    }
    if profile.oauth is not None:
        config["sasl.mechanisms"] = "OAUTHBEARER"
        config.update(_confluent_oauth(profile.oauth))
    elif profile.sasl_mechanism:
        config["sasl.mechanisms"] = profile.sasl_mechanism
        config["sasl.username"] = profile.username
        config["sasl.password"] = profile.password
    if profile.uses_tls:
        # `probe` finds the system CA bundle even in slim images and static OpenSSL builds.
        config["ssl.ca.location"] = profile.ca_file or "probe"
        config["enable.ssl.certificate.verification"] = profile.verify_tls
    if profile.is_eventhubs:
        config.update(_confluent_eventhubs(role))
    return config


def _confluent_oauth(oauth: OAuthSettings) -> dict[str, Any]:
    """librdkafka's own OIDC client for a client secret (it fetches and refreshes the tokens);
    lagscale's token source through `oauth_cb` for a client assertion or a token file."""
    if oauth.needs_callback:
        source = TokenSource(oauth)
        # The first token now: a bad credential fails here in our words, not ten seconds later as
        # librdkafka's "OAuth token not set" (it swallows what the callback raised).
        source.token()
        return {"oauth_cb": confluent_oauth_cb(source)}
    config: dict[str, Any] = {
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": oauth.token_endpoint,
        "sasl.oauthbearer.client.id": oauth.client_id,
        "sasl.oauthbearer.client.secret": oauth.client_secret,
        # The endpoint's certificate: the system's CAs, found even where OpenSSL is linked statically.
        "https.ca.location": "probe",
    }
    if oauth.scope:
        config["sasl.oauthbearer.scope"] = oauth.scope
    if oauth.extensions:
        config["sasl.oauthbearer.extensions"] = ",".join(f"{key}={value}" for key, value in oauth.extensions)
    return config


def _confluent_eventhubs(role: Role) -> dict[str, Any]:
    config: dict[str, Any] = {
        "socket.keepalive.enable": True,
        "metadata.max.age.ms": _EVENTHUBS_IDLE_MS,
        "connections.max.idle.ms": _EVENTHUBS_IDLE_MS,
    }
    if role == "producer":
        config["request.timeout.ms"] = 60_000
        config["compression.type"] = "none"
        config["message.max.bytes"] = _EVENTHUBS_MAX_REQUEST_BYTES
    if role == "consumer":
        config["session.timeout.ms"] = 30_000
        config["heartbeat.interval.ms"] = 3_000
        config["max.poll.interval.ms"] = 300_000
    return config


def kafka_python_config(profile: ConnectionProfile, role: Role) -> dict[str, Any]:
    """kafka-python keyword arguments for `role`."""
    config: dict[str, Any] = {
        "bootstrap_servers": list(profile.bootstrap_servers),
        "security_protocol": profile.security_protocol,
    }
    if profile.oauth is not None:
        config["sasl_mechanism"] = "OAUTHBEARER"
        config["sasl_oauth_token_provider"] = kafka_python_token_provider(TokenSource(profile.oauth))
    elif profile.sasl_mechanism:
        config["sasl_mechanism"] = profile.sasl_mechanism
        config["sasl_plain_username"] = profile.username
        config["sasl_plain_password"] = profile.password
    if profile.uses_tls:
        if profile.ca_file:
            config["ssl_cafile"] = profile.ca_file
        config["ssl_check_hostname"] = profile.verify_tls
    if profile.is_eventhubs:
        config["connections_max_idle_ms"] = _EVENTHUBS_IDLE_MS
        config["metadata_max_age_ms"] = _EVENTHUBS_IDLE_MS
        if role == "producer":
            config["request_timeout_ms"] = 60_000
            config["max_request_size"] = _EVENTHUBS_MAX_REQUEST_BYTES
        if role == "consumer":
            config["session_timeout_ms"] = 30_000
            config["heartbeat_interval_ms"] = 3_000
    return config
