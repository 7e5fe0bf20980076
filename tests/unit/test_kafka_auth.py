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


def test_gssapi_says_it_is_not_supported() -> None:
    auth = {"username": "u", "password": "p", "realm": "R", "kerberosConfig": "[libdefaults]"}
    trigger = parse_trigger({**BASE, "sasl": "gssapi"}, auth)
    with pytest.raises(ConfigError, match="sasl: mode 'gssapi' is not supported by lagscale"):
        connection_from_trigger(trigger)


def test_msk_iam_says_it_is_not_supported() -> None:
    metadata = {"sasl": "oauthbearer", "saslTokenProvider": "aws_msk_iam", "tls": "enable", "awsRegion": "eu"}
    trigger = parse_trigger({**BASE, **metadata}, {"awsRoleArn": "arn:aws:iam::1:role/r"})
    with pytest.raises(ConfigError, match="saslTokenProvider: aws_msk_iam is not supported by lagscale"):
        connection_from_trigger(trigger)


OAUTH = {
    "username": "my-client",
    "password": "client-secret-1234",
    "oauthTokenEndpointUri": "https://idp.example/token",
    "scopes": "kafka, extra",
    "oauthExtensions": "logicalCluster=lkc-1,poolId=pool-2",
}


@pytest.mark.parametrize(("tls", "protocol"), [("disable", "SASL_PLAINTEXT"), ("enable", "SASL_SSL")])
def test_oauthbearer_becomes_librdkafkas_oidc_client_with_kedas_names(tls: str, protocol: str) -> None:
    config = config_for({"sasl": "oauthbearer", "tls": tls}, OAUTH)
    assert (config["security.protocol"], config["sasl.mechanisms"]) == (protocol, "OAUTHBEARER")
    assert config["sasl.oauthbearer.method"] == "oidc"
    assert config["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"
    assert config["sasl.oauthbearer.client.id"] == "my-client"
    assert config["sasl.oauthbearer.client.secret"] == "client-secret-1234"
    # KEDA splits scopes on commas without trimming and its OAuth library joins them with spaces.
    assert config["sasl.oauthbearer.scope"] == "kafka  extra"
    assert config["sasl.oauthbearer.extensions"] == "logicalCluster=lkc-1,poolId=pool-2"
    assert "sasl.username" not in config


def test_oauthbearer_without_scopes_asks_for_none() -> None:
    auth = {key: value for key, value in OAUTH.items() if key != "scopes"}
    assert "sasl.oauthbearer.scope" not in config_for({"sasl": "oauthbearer"}, auth)


def test_oauthbearer_secret_stays_out_of_repr() -> None:
    connection = connection_from_trigger(parse_trigger({**BASE, "sasl": "oauthbearer"}, OAUTH))
    assert "client-secret-1234" not in repr(connection)
    assert "oauth_client=my-client" in connection.describe()
