import logging

import pytest

from kafkakit.clients import confluent_config, kafka_python_config
from kafkakit.errors import ConfigError
from kafkakit.profiles import build_profile, parse_connection_string

CONNECTION_STRING = (
    "Endpoint=sb://demo-ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=c2VjcmV0LWtleQ=="
)


def test_connection_string_gives_namespace_bootstrap_on_9093():
    connection = parse_connection_string(CONNECTION_STRING)
    assert connection.namespace_host == "demo-ns.servicebus.windows.net"
    assert connection.bootstrap == "demo-ns.servicebus.windows.net:9093"
    assert connection.key_name == "RootManageSharedAccessKey"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("hello", "Name=value"),
        ("SharedAccessKeyName=a;SharedAccessKey=b", "Endpoint"),
        ("Endpoint=https://demo.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b", "sb://"),
        ("Endpoint=sb://demo.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b", "servicebus"),
        ("Endpoint=sb://demo.servicebus.windows.net/;SharedAccessKeyName=a", "SharedAccessKey"),
    ],
)
def test_malformed_connection_strings_say_what_is_wrong(text, complaint):
    with pytest.raises(ConfigError, match=complaint):
        parse_connection_string(text)


def test_eventhubs_profile_is_sasl_ssl_plain_with_connection_string_user():
    profile = build_profile("eventhubs", connection_string=CONNECTION_STRING)
    assert profile.bootstrap == "demo-ns.servicebus.windows.net:9093"
    assert profile.security_protocol == "SASL_SSL"
    assert profile.sasl_mechanism == "PLAIN"
    assert profile.username == "$ConnectionString"
    assert profile.password == CONNECTION_STRING


def test_profile_is_inferred_from_a_connection_string_and_endpoint_overrides_bootstrap():
    profile = build_profile(None, bootstrap="127.0.0.1:19095", connection_string=CONNECTION_STRING)
    assert profile.kind == "eventhubs"
    assert profile.bootstrap == "127.0.0.1:19095"


def test_tutorial_consumer_passes_the_connection_string_as_password():
    profile = build_profile(None, bootstrap="x.servicebus.windows.net:9093", password=CONNECTION_STRING)
    assert profile.kind == "eventhubs"
    assert profile.password == CONNECTION_STRING


def test_secrets_are_not_in_repr_or_describe():
    profile = build_profile("eventhubs", connection_string=CONNECTION_STRING)
    assert "c2VjcmV0" not in repr(profile)
    assert "c2VjcmV0" not in profile.describe()


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"kind": "kerberos", "bootstrap": "a:1"}, "unknown profile 'kerberos'"),
        ({"kind": "eventhubs"}, "connection string"),
        ({"kind": "plaintext"}, "bootstrap"),
        ({"kind": "plaintext", "bootstrap": "localhost"}, "host:port"),
        ({"kind": "sasl_plain", "bootstrap": "a:1"}, "--username and --password"),
        (
            {"kind": "scram", "bootstrap": "a:1", "username": "u", "password": "p", "scram_mechanism": "MD5"},
            "SCRAM",
        ),
    ],
)
def test_bad_profile_settings_are_clear_errors(kwargs, complaint):
    kind = kwargs.pop("kind")
    with pytest.raises(ConfigError, match=complaint):
        build_profile(kind, **kwargs)


@pytest.mark.parametrize(
    ("kind", "tls", "protocol", "mechanism"),
    [
        ("plaintext", False, "PLAINTEXT", None),
        ("sasl_plain", False, "SASL_PLAINTEXT", "PLAIN"),
        ("sasl_ssl", False, "SASL_SSL", "PLAIN"),
        ("scram", False, "SASL_PLAINTEXT", "SCRAM-SHA-512"),
        ("scram", True, "SASL_SSL", "SCRAM-SHA-512"),
    ],
)
def test_profile_kinds_map_to_protocol_and_mechanism(kind, tls, protocol, mechanism):
    profile = build_profile(kind, bootstrap="h:1", username="u", password="pw", tls=tls)
    assert (profile.security_protocol, profile.sasl_mechanism) == (protocol, mechanism)
    config = confluent_config(profile, "consumer")
    assert config["security.protocol"] == protocol
    assert config.get("sasl.mechanisms") == mechanism
    assert kafka_python_config(profile, "consumer")["security_protocol"] == protocol


def test_eventhubs_client_configs_follow_microsoft_recommendations(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    profile = build_profile("eventhubs", connection_string=CONNECTION_STRING, ca_file=str(ca_file))
    producer = confluent_config(profile, "producer")
    consumer = confluent_config(profile, "consumer")
    assert producer["request.timeout.ms"] == 60_000
    assert producer["metadata.max.age.ms"] < 240_000
    assert producer["socket.keepalive.enable"] is True
    assert consumer["session.timeout.ms"] == 30_000
    assert consumer["enable.ssl.certificate.verification"] is True
    assert consumer["ssl.ca.location"] == str(ca_file)
    python_producer = kafka_python_config(profile, "producer")
    assert python_producer["max_request_size"] < 1_046_528
    assert python_producer["sasl_plain_username"] == "$ConnectionString"
    assert python_producer["ssl_check_hostname"] is True


def test_tls_without_a_ca_file_probes_the_system_store():
    profile = build_profile("sasl_ssl", bootstrap="h:1", username="u", password="p")
    assert confluent_config(profile, "admin")["ssl.ca.location"] == "probe"


@pytest.mark.parametrize("role", ["producer", "consumer", "admin"])
@pytest.mark.parametrize("kind", ["plaintext", "eventhubs"])
def test_every_role_refuses_auto_creation_and_logs_through_our_formatter(kind, role):
    profile = build_profile(kind, bootstrap="h:1", connection_string=CONNECTION_STRING)
    config = confluent_config(profile, role)
    # librdkafka's default for producer-type handles (AdminClient too) is True.
    assert config["allow.auto.create.topics"] is False
    assert config["logger"] is logging.getLogger("librdkafka")
    assert callable(config["error_cb"])
    assert config["reconnect.backoff.ms"] == 22


@pytest.mark.parametrize("server", ["h:0", "h:65536", "h:70000"])
def test_ports_outside_1_to_65535_are_rejected(server):
    with pytest.raises(ConfigError, match=f"'{server}': the port must be between 1 and 65535"):
        build_profile("plaintext", bootstrap=server)
    assert build_profile("plaintext", bootstrap="h:1,h:65535").bootstrap_servers == ("h:1", "h:65535")


def test_an_unreadable_ca_file_is_reported_with_the_setting_to_fix(tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=r"cannot read the CA file .* fix --ca-file / LAGSCALE_CA_FILE"):
        build_profile("eventhubs", connection_string=CONNECTION_STRING, ca_file=str(missing))
    with pytest.raises(ConfigError, match="Is a directory"):
        build_profile("sasl_ssl", bootstrap="h:1", username="u", password="p", ca_file=str(tmp_path))
    # Without TLS the CA file is never read, so it is not checked either.
    assert build_profile("plaintext", bootstrap="h:1", ca_file=str(missing)).ca_file == str(missing)
