"""Values: merging (--values, --set, environment), type checks and every cross-field rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkakit.errors import ConfigError
from lagscale.render.values import load_defaults, merge_values

CONNECTION_STRING = "Endpoint=sb://env-ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v=="


def problems(profile: str, *overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        merge_values(profile, overrides=overrides, environ={})
    return [str(problem) for problem in caught.value.problems]


def test_set_is_yaml_typed() -> None:
    values = merge_values(
        "kafka",
        overrides=["keda.lagThreshold=25", "keda.allowIdleConsumers=true", "consumer.processTime=0.5"],
        environ={},
    )
    assert values["keda"]["lagThreshold"] == 25
    assert values["keda"]["allowIdleConsumers"] is True
    assert values["consumer"]["processTime"] == 0.5


def test_set_keeps_string_keys_verbatim() -> None:
    values = merge_values("kafka", overrides=["topic=123", "consumerGroup=a #b"], environ={})
    assert values["topic"] == "123"
    assert values["consumerGroup"] == "a #b"


def test_values_files_merge_deeply_in_order_and_set_wins(tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text(
        "keda:\n  lagThreshold: 30\n  maxReplicaCount: 4\n"
        "consumer:\n  resources:\n    limits:\n      cpu: 2\n"
    )
    second = tmp_path / "second.yaml"
    second.write_text("keda:\n  lagThreshold: 40\n")
    values = merge_values(
        "kafka", value_files=[first, second], overrides=["keda.maxReplicaCount=6"], environ={}
    )
    assert values["keda"]["lagThreshold"] == 40
    assert values["keda"]["maxReplicaCount"] == 6
    assert values["keda"]["pollingInterval"] == load_defaults("kafka")["keda"]["pollingInterval"]
    assert values["consumer"]["resources"]["limits"] == {"cpu": 2, "memory": "256Mi"}


def test_later_set_wins_over_earlier_set() -> None:
    values = merge_values("kafka", overrides=["keda.lagThreshold=5", "keda.lagThreshold=7"], environ={})
    assert values["keda"]["lagThreshold"] == 7


def test_connection_string_comes_from_the_environment_unless_set() -> None:
    from_env = merge_values("eventhubs", environ={"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING})
    assert from_env["eventhubs"]["connectionString"] == CONNECTION_STRING
    other = CONNECTION_STRING.replace("env-ns", "set-ns")
    explicit = merge_values(
        "eventhubs",
        overrides=[f"eventhubs.connectionString={other}"],
        environ={"EVENTHUBS_CONNECTION_STRING": CONNECTION_STRING},
    )
    assert explicit["eventhubs"]["connectionString"] == other


def test_unknown_key_names_the_nearest_valid_key() -> None:
    assert problems("kafka", "keda.lagTreshold=5") == [
        "keda.lagTreshold: unknown key; did you mean keda.lagThreshold?"
    ]


def test_wrong_types_are_reported() -> None:
    found = problems("kafka", "keda.minReplicaCount=two", "keda.allowIdleConsumers=3")
    assert found == [
        "keda.minReplicaCount: expected an integer, got a string ('two')",
        "keda.allowIdleConsumers: expected a boolean, got an integer (3)",
    ]
    assert problems("kafka", "keda=5")[0].startswith("keda: expected a mapping of keys")


def test_secret_values_are_never_echoed_in_errors(tmp_path: Path) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text("eventhubs:\n  connectionString: [s3cretKey]\n")
    with pytest.raises(ConfigError) as caught:
        merge_values("eventhubs", value_files=[values_file], environ={})
    assert [str(problem) for problem in caught.value.problems] == [
        "eventhubs.connectionString: expected a string, got a list"
    ]
    malformed = problems(
        "eventhubs",
        "eventhubs.connectionString=Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=s3cretKey",
    )
    assert "s3cretKey" not in str(malformed)


def test_every_problem_is_listed_at_once() -> None:
    found = problems(
        "kafka",
        "keda.minReplicaCount=x",
        "keda.lagThreshold=0",
        "keda.maxReplicaCont=3",
        "kafka.sasl=scram_sha512",
    )
    assert len(found) == 4


@pytest.mark.parametrize(
    ("profile", "overrides", "expected"),
    [
        (
            "kafka",
            ["keda.minReplicaCount=5", "keda.maxReplicaCount=3"],
            "keda.minReplicaCount: (5) must not exceed keda.maxReplicaCount (3)",
        ),
        # The keda section is judged by KEDA's own rules, each named by its values key.
        ("kafka", ["keda.lagThreshold=0"], "keda.lagThreshold: must be greater than 0, got 0"),
        ("kafka", ["keda.lagThreshold=-3"], "keda.lagThreshold: must be greater than 0, got -3"),
        (
            "kafka",
            ["keda.activationLagThreshold=-1"],
            "keda.activationLagThreshold: must be 0 or more, got -1",
        ),
        (
            "kafka",
            ["keda.minReplicaCount=1", "keda.idleReplicaCount=1"],
            "keda.idleReplicaCount: (1) must be less than keda.minReplicaCount (1)",
        ),
        (
            "kafka",
            ["keda.minReplicaCount=2", "keda.idleReplicaCount=2"],
            "keda.idleReplicaCount: (2) must be less",
        ),
        (
            "kafka",
            ["keda.idleReplicaCount=abc"],
            "keda.idleReplicaCount: expected an integer or null, got a string",
        ),
        (
            "kafka",
            ["keda.minReplicaCount=2", "keda.idleReplicaCount=1.5"],
            "expected an integer or null, got a number",
        ),
        ("kafka", ["keda.maxReplicaCount=0"], "keda.maxReplicaCount: must be at least 1, got 0"),
        ("kafka", ["keda.pollingInterval=0"], "keda.pollingInterval: must be at least 1, got 0"),
        (
            "kafka",
            ["keda.offsetResetPolicy=newest"],
            "keda.offsetResetPolicy: must be one of latest, earliest, got 'newest'",
        ),
        (
            "kafka",
            ["keda.allowIdleConsumers=true", "keda.limitToPartitionsWithLag=true"],
            "keda.limitToPartitionsWithLag: cannot be combined with keda.allowIdleConsumers",
        ),
        ("kafka", ["keda.fallback.replicas=-1"], "keda.fallback.replicas: must be at least 0, got -1"),
        (
            "kafka",
            ["keda.advanced.horizontalPodAutoscalerConfig.behavior={scaleSideways: {}}"],
            "keda.advanced.horizontalPodAutoscalerConfig.behavior: has unknown field(s) scaleSideways",
        ),
        (
            "kafka",
            ["keda.advanced.horizontalPodAutoscalerConfig.behavior={scaleDown: {policies: []}}"],
            "behavior.scaleDown.policies: must be a non-empty list of policies",
        ),
        ("kafka", ["namespace=Bad_NS"], "namespace: 'Bad_NS' must be a DNS label"),
        ("kafka", ["topic="], "topic: must not be empty"),
        ("kafka", ["consumer.processTime=-1"], "consumer.processTime: -1 must be >= 0"),
        ("kafka", ["consumer.metricsPort=70000"], "consumer.metricsPort: 70000 must be a TCP port"),
        (
            "kafka",
            ["consumer.image.pullPolicy=Sometimes"],
            "consumer.image.pullPolicy: 'Sometimes' must be one of",
        ),
        ("kafka", ["consumer.resources={limit: {cpu: 1}}"], "consumer.resources.limit: unknown"),
        (
            "kafka",
            ["consumer.resources={limits: 5}"],
            "consumer.resources.limits: expected a mapping of resource",
        ),
        (
            "kafka",
            ["consumer.resources={limits: {cpu: lots}}"],
            "consumer.resources.limits.cpu: 'lots' is not a",
        ),
        ("kafka", ["producer.count=0"], "producer.count: 0 must be >= 1"),
        (
            "kafka",
            ["scaler.mode=sidecar"],
            "scaler.mode: 'sidecar' must be one of keda, external, standalone",
        ),
        ("kafka", ["kafka.sasl=gssapi"], "kafka.sasl: 'gssapi' must be one of none, plaintext"),
        (
            "kafka",
            ["kafka.broker.enabled=false"],
            "kafka.bootstrapServers: set it, or set kafka.broker.enabled=true",
        ),
        ("kafka", ["kafka.bootstrapServers=broker"], "kafka.bootstrapServers: 'broker' must be host:port"),
        ("kafka", ["kafka.password=a b"], "kafka.password: must not contain quotes"),
        (
            "kafka",
            ["kafka.broker.clusterId=short"],
            "kafka.broker.clusterId: must be 22 base64url characters",
        ),
        (
            "eventhubs",
            ["eventhubs.host=myns.windows.net"],
            "eventhubs.host: 'myns.windows.net' is not an Event Hubs host",
        ),
        ("eventhubs", ["eventhubs.host=x.servicebus.windows.net:9093"], "must be a host name only"),
        ("eventhubs", ["consumerGroup=$Default"], "consumerGroup: `$Default` is the Event Hubs AMQP group"),
        (
            "eventhubs",
            ["eventhubs.connectionString=Endpoint=sb://x.servicebus.windows.net/"],
            "SharedAccessKeyName",
        ),
        (
            "eventhubs",
            ["eventhubs.connectionString=Endpoint=https://a.b/;SharedAccessKeyName=a;SharedAccessKey=b"],
            "sb://",
        ),
    ],
)
def test_each_rule_reports_what_to_change(profile: str, overrides: list[str], expected: str) -> None:
    found = problems(profile, *overrides)
    assert len(found) == 1, found
    assert expected in found[0]


def test_set_syntax_error_says_the_expected_form() -> None:
    with pytest.raises(ConfigError, match=r"expected key.sub=value"):
        merge_values("kafka", overrides=["keda.lagThreshold"], environ={})


def test_unreadable_values_file_is_a_values_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("keda: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        merge_values("kafka", value_files=[broken], environ={})
    with pytest.raises(ConfigError, match="cannot read it"):
        merge_values("kafka", value_files=[tmp_path / "missing.yaml"], environ={})


def test_profile_sections_exist_only_in_their_profile() -> None:
    assert "eventhubs" not in load_defaults("kafka")
    assert "kafka" not in load_defaults("eventhubs")
    assert problems("kafka", "eventhubs.host=x.servicebus.windows.net")[0].startswith(
        "eventhubs.host: unknown key"
    )
