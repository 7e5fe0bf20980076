"""scaler.kafka.connection: a KEDA trigger's connection settings -> kafkakit profile + librdkafka config."""

from __future__ import annotations

import pytest

from kafkakit.errors import ConfigError
from scaler.kafka.connection import admin_config, connection_from_trigger
from scaler.keda.trigger import parse_trigger

BASE = {"bootstrapServers": "k1:9092,k2:9092", "consumerGroup": "g", "topic": "t"}
CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----"
CERT = "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----"


def config_for(metadata: dict[str, str], auth: dict[str, str] | None = None) -> dict[str, object]:
    return admin_config(connection_from_trigger(parse_trigger({**BASE, **metadata}, auth or {})))


def test_no_sasl_no_tls_is_plaintext_to_every_bootstrap_server() -> None:
    config = config_for({})
    assert (config["bootstrap.servers"], config["security.protocol"]) == ("k1:9092,k2:9092", "PLAINTEXT")
    assert "sasl.mechanisms" not in config


@pytest.mark.parametrize(
    ("sasl", "tls", "protocol", "mechanism"),
    [
        ("plaintext", "disable", "SASL_PLAINTEXT", "PLAIN"),
        ("plaintext", "enable", "SASL_SSL", "PLAIN"),
        ("scram_sha256", "disable", "SASL_PLAINTEXT", "SCRAM-SHA-256"),
        ("scram_sha512", "enable", "SASL_SSL", "SCRAM-SHA-512"),
    ],
)
def test_sasl_modes_map_to_librdkafka(sasl: str, tls: str, protocol: str, mechanism: str) -> None:
    config = config_for({"sasl": sasl, "tls": tls}, {"username": "user", "password": "pw-1234"})
    assert (config["security.protocol"], config["sasl.mechanisms"]) == (protocol, mechanism)
    assert (config["sasl.username"], config["sasl.password"]) == ("user", "pw-1234")


def test_tls_without_sasl_is_ssl_and_pem_text_goes_straight_to_librdkafka() -> None:
    config = config_for({"tls": "enable"}, {"ca": CA, "cert": CERT, "key": KEY, "keyPassword": "kp-1234"})
    assert config["security.protocol"] == "SSL"
    assert (config["ssl.ca.pem"], config["ssl.certificate.pem"], config["ssl.key.pem"]) == (CA, CERT, KEY)
    assert config["ssl.key.password"] == "kp-1234"
    assert config["enable.ssl.certificate.verification"] is True


def test_pem_blobs_are_ignored_without_tls_like_keda() -> None:
    config = config_for({}, {"ca": CA})
    assert "ssl.ca.pem" not in config


def test_unsafe_ssl_turns_verification_off() -> None:
    config = config_for({"tls": "enable", "unsafeSsl": "true"})
    assert config["enable.ssl.certificate.verification"] is False


def test_secrets_stay_out_of_repr() -> None:
    connection = connection_from_trigger(
        parse_trigger(
            {**BASE, "tls": "enable", "sasl": "plaintext"},
            {"username": "u", "password": "pw-1234", "cert": CERT, "key": KEY},
        )
    )
    assert "pw-1234" not in repr(connection)
    assert "secret-key-material" not in repr(connection)


@pytest.mark.parametrize("sasl", ["oauthbearer", "gssapi"])
def test_unsupported_sasl_modes_say_so(sasl: str) -> None:
    auth = {
        "username": "u",
        "password": "p",
        "oauthTokenEndpointUri": "https://idp/token",
        "realm": "R",
        "kerberosConfig": "[libdefaults]",
    }
    trigger = parse_trigger({**BASE, "sasl": sasl}, auth)
    with pytest.raises(ConfigError, match=f"sasl: mode '{sasl}' is not supported by lagscale"):
        connection_from_trigger(trigger)
