"""Bad input to `python -m producer` / `python -m consumer`: stderr is exactly one line,
`error: <what to change>`, the exit code is 2 for usage errors and 1 for runtime ones, and no
secret is in the output."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

    from tests.kafka.conftest import AppKit

pytestmark = pytest.mark.kafka

SECRET_KEY = "S3cretKeyValue0123456789abcdefghijklmnopqrs="
SASL_SSL = ["--profile", "sasl_ssl", "--bootstrap", "h:1", "--username", "u", "--password", "p"]
APPS = {
    "producer": ["--topic", "t", "--count", "1"],
    "consumer": ["--topic", "t", "--group", "g", "--max-events", "1"],
}


def error_line(output: str) -> str:
    """The whole of stderr, which must be one `error: ...` line (no usage block, no log lines)."""
    assert output.startswith("error: "), output
    assert output.count("\n") == 1, output
    assert output.endswith("\n"), output
    return output.rstrip("\n")


@pytest.mark.parametrize("app", list(APPS))
@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        pytest.param({}, ["--profile", "nope"], "Invalid value for '--profile'", id="unknown-profile"),
        pytest.param(
            {"LAGSCALE_PROFILE": "nope"}, [], "Invalid value for '--profile'", id="unknown-profile-env"
        ),
        pytest.param(
            {}, ["--profile", "eventhubs"], "set KAFKA_EVENTHUB_CONNECTION_STRING", id="no-connection-string"
        ),
        pytest.param(
            {
                "KAFKA_EVENTHUB_CONNECTION_STRING": f"Endpoint=sb://ns.example.com/;SharedAccessKey={SECRET_KEY}"
            },
            [],
            "not a `*.servicebus.*` namespace host",
            id="malformed-connection-string",
        ),
        pytest.param(
            {"KAFKA_EVENTHUB_CONNECTION_STRING": f"SharedAccessKey={SECRET_KEY}"},
            [],
            "Endpoint=sb://<namespace>...` is missing",
            id="connection-string-without-endpoint",
        ),
        pytest.param({}, ["--profile", "sasl_plain", "--bootstrap", "h:1"], "needs --username", id="no-user"),
        pytest.param({}, ["--bootstrap", "no-port"], "must be `host:port`", id="bad-bootstrap"),
        pytest.param({}, ["--bootstrap", "h:0"], "port must be between 1 and 65535", id="port-0"),
        pytest.param({}, ["--bootstrap", "h:70000"], "port must be between 1 and 65535", id="port-70000"),
        pytest.param(
            {},
            [*SASL_SSL, "--ca-file", "/nonexistent/ca.pem"],
            "cannot read the CA file '/nonexistent/ca.pem' (No such file or directory): "
            "fix --ca-file / LAGSCALE_CA_FILE",
            id="missing-ca-file",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line(
    app: str, env: dict[str, str], args: list[str], expected: str, apps: AppKit
) -> None:
    result = apps.run(app, [*APPS[app], *args], env=apps.env(**env))

    assert result.returncode == 2, result.stderr
    assert expected in error_line(result.stderr)
    assert SECRET_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("app", "args", "expected"),
    [
        (
            "producer",
            ["--rate", "fast"],
            "error: --rate must be a number of events per second ≥ 0 (got 'fast')",
        ),
        ("producer", ["--rate", "-1"], "--rate must be a number of events per second ≥ 0"),
        ("producer", ["--flush-timeout", "soon"], "--flush-timeout must be a number of seconds ≥ 0"),
        ("producer", ["--key", "hash"], "Invalid value for '--key'"),
        ("producer", ["--client", "sarama"], "Invalid value for '--client'"),
        ("producer", ["--topic", ""], "--topic must not be empty"),
        ("consumer", ["--process-time", "slow"], "--process-time must be a number of seconds ≥ 0"),
        ("consumer", ["--commit-interval", "0.1"], "--commit-interval must be a number of seconds ≥ 0.25"),
        ("consumer", ["--progress-interval", "0"], "--progress-interval must be a number of seconds ≥ 0.1"),
        ("consumer", ["--group", ""], "--group must not be empty: pass the consumer group id or set "),
        ("consumer", ["--group-protocol", "eager"], "Invalid value for '--group-protocol'"),
        ("consumer", ["--assignment-strategy", "sticky"], "Invalid value for '--assignment-strategy'"),
        (
            "consumer",
            ["--group-protocol", "consumer", "--assignment-strategy", "range"],
            "--assignment-strategy / LAGSCALE_ASSIGNMENT_STRATEGY applies to --group-protocol classic only",
        ),
        (
            "consumer",
            ["--group-instance-id", "pod 1"],
            "--group-instance-id / LAGSCALE_GROUP_INSTANCE_ID: 'pod 1' must be 1-249 letters",
        ),
    ],
)
def test_bad_numbers_and_choices_are_rejected(app: str, args: list[str], expected: str, apps: AppKit) -> None:
    result = apps.run(app, apps.plain(*APPS[app], *args))

    assert result.returncode == 2
    assert expected in error_line(result.stderr)


def test_a_missing_group_names_the_tutorials_variable(apps: AppKit) -> None:
    result = apps.run("consumer", apps.plain("--topic", "t"))

    assert result.returncode == 2
    assert error_line(result.stderr) == (
        "error: missing --group: pass --group <consumer group id> or set KAFKA_EVENTHUB_CONSUMER_GROUP"
    )


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("lagscale", ["produce", "--topic", "t", "--rate", "fast"], "--rate must be a number"),
        ("lagscale", ["consume", "--topic", "t"], "missing --group"),
        ("lagscale", ["no-such-command"], "No such command 'no-such-command'"),
        ("scaler", ["--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_every_entry_point_reports_usage_errors_in_one_line(
    module: str, args: list[str], expected: str, apps: AppKit
) -> None:
    result = apps.run(module, args)

    assert result.returncode == 2
    assert expected in error_line(result.stderr)


@pytest.mark.parametrize("app", list(APPS))
def test_a_ca_file_librdkafka_refuses_is_one_line_not_a_traceback(
    app: str, apps: AppKit, kafka: KafkaEndpoints, tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    env = apps.env(KAFKA_EVENTHUB_CONNECTION_STRING=kafka.eventhubs_connection_string)
    args = ["--bootstrap", kafka.bootstrap_ssl, "--ca-file", str(garbage), *APPS[app]]

    result = apps.run(app, args, env=env, timeout=30)

    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "cannot create the Kafka client: check --ca-file" in line
    assert "ssl.ca.location" in line


@pytest.mark.parametrize("app", list(APPS))
def test_unreachable_broker_fails_fast_with_a_hint(
    app: str, apps: AppKit, free_port: Callable[[], int]
) -> None:
    started = time.monotonic()
    result = apps.run(app, ["--bootstrap", f"127.0.0.1:{free_port()}", *APPS[app]], timeout=30)

    assert time.monotonic() - started < 15
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "cannot reach Kafka" in line
    assert "--bootstrap" in line


@pytest.mark.parametrize(("app", "hint"), [("producer", "--create-topic"), ("consumer", "--topic")])
def test_missing_topic_is_an_error_not_an_auto_create(
    app: str, hint: str, apps: AppKit, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("missing")
    args = [arg if arg != "t" else topic for arg in APPS[app]]

    result = apps.run(app, apps.plain(*args), timeout=30)

    assert result.returncode == 1
    line = error_line(result.stderr)
    assert f"topic '{topic}' does not exist" in line
    assert hint in line
    assert topic not in apps.kafka_topics()


@pytest.mark.parametrize("app", list(APPS))
def test_wrong_connection_string_is_a_clear_auth_error(
    app: str, apps: AppKit, kafka: KafkaEndpoints, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("badauth")
    wrong = re.sub(
        r"SharedAccessKey=[^;]*", f"SharedAccessKey={SECRET_KEY}", kafka.eventhubs_connection_string
    )
    env = apps.env(KAFKA_EVENTHUB_CONNECTION_STRING=wrong, LAGSCALE_CA_FILE=kafka.ca_file)
    args = [arg if arg != "t" else topic for arg in APPS[app]]

    result = apps.run(app, ["--bootstrap", kafka.bootstrap_ssl, *args], env=env, timeout=30)

    assert result.returncode == 1
    line = error_line(result.stderr)
    assert "authentication failed" in line
    assert "connection string" in line
    assert SECRET_KEY not in result.stdout + result.stderr
