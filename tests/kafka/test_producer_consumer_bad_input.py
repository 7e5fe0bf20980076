"""Bad input to `python -m producer` / `python -m consumer`: one clear `Error:` line that says what
to change, a non-zero exit, and no secret in the output."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

    from tests.kafka.conftest import AppKit

pytestmark = pytest.mark.kafka

SECRET_KEY = "S3cretKeyValue0123456789abcdefghijklmnopqrs="
APPS = {
    "producer": ["--topic", "t", "--count", "1"],
    "consumer": ["--topic", "t", "--group", "g", "--max-events", "1"],
}


def error_line(output: str) -> str:
    """The single `Error:` line. librdkafka's own `%N|...` log lines are ignored here."""
    lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, output
    return lines[0]


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
    ],
)
def test_bad_configuration_is_one_clear_line(
    app: str, env: dict[str, str], args: list[str], expected: str, apps: AppKit
) -> None:
    result = apps.run(app, [*APPS[app], *args], env=apps.env(**env))

    assert result.returncode == 2
    assert expected in error_line(result.stderr)
    assert SECRET_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("app", "args", "expected"),
    [
        ("producer", ["--rate", "fast"], "Invalid value for '--rate': 'fast' is not a valid float"),
        ("producer", ["--rate", "-1"], "Invalid value for '--rate'"),
        ("producer", ["--key", "hash"], "Invalid value for '--key'"),
        ("producer", ["--client", "sarama"], "Invalid value for '--client'"),
        ("consumer", ["--process-time", "slow"], "Invalid value for '--process-time'"),
        ("consumer", ["--commit-interval", "0.1"], "Invalid value for '--commit-interval'"),
    ],
)
def test_bad_numbers_and_choices_are_rejected(app: str, args: list[str], expected: str, apps: AppKit) -> None:
    result = apps.run(app, apps.plain(*APPS[app], *args))

    assert result.returncode == 2
    assert expected in error_line(result.stderr)


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
