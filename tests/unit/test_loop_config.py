"""`lagscale scale` settings: a real KEDA ScaledObject YAML with its auth, and the plain flags."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kafkakit import envvars
from kafkakit.errors import ConfigError
from scaler.cli.scale import created_ago, scale
from scaler.cli.settings import trigger_metadata
from scaler.loop.config import ScalingConfig
from scaler.scaledobject_files import decode_secret, load_scaled_object

SCALED_OBJECT = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: kafka-scaledobject
  namespace: demo
spec:
  scaleTargetRef:
    name: kafka-consumer
  pollingInterval: 15
  cooldownPeriod: 100
  maxReplicaCount: 10
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {bootstrap}
        consumerGroup: workers
        topic: orders
        lagThreshold: "{threshold}"
        sasl: plaintext
        tls: enable
      authenticationRef:
        name: kafka-auth
"""

TRIGGER_AUTH = """\
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: kafka-auth
  namespace: demo
spec:
  secretTargetRef:
    - parameter: username
      name: kafka-secrets
      key: user
    - parameter: password
      name: kafka-secrets
      key: password
"""


# Unset for every run of the command: a developer's KAFKA_EVENTHUB_* must not change the outcome.
NO_CONNECTION_ENV = dict.fromkeys(
    [*envvars.ENDPOINT, *envvars.CONNECTION_STRING, *envvars.CONSUMER_GROUP, *envvars.TOPIC, *envvars.PROFILE]
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`scale` configures the root logger onto CliRunner's stream, which closes after invoke."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _secret(user: str, password: str) -> str:
    encoded = base64.b64encode(password.encode()).decode()
    return f"""\
apiVersion: v1
kind: Secret
metadata:
  name: kafka-secrets
  namespace: demo
data:
  password: {encoded}
stringData:
  user: {user}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return (
        _write(tmp_path, "so.yaml", SCALED_OBJECT.format(bootstrap="broker:9093", threshold=50)),
        _write(tmp_path, "auth.yaml", TRIGGER_AUTH),
        _write(tmp_path, "secret.yaml", _secret("$ConnectionString", "Endpoint=sb://x/;SharedAccessKey=k")),
    )


def test_loads_the_tutorial_shaped_scaled_object(files: tuple[Path, Path, Path]) -> None:
    config, auth, secret = files
    loaded = load_scaled_object(config, [auth], [secret])
    assert loaded.definition.name == "kafka-scaledobject"
    assert (loaded.definition.target_kind, loaded.definition.target_name) == ("Deployment", "kafka-consumer")
    spec = loaded.definition.spec
    assert (spec.polling_interval, spec.cooldown_period, spec.min_replica_count) == (15, 100, 0)
    hpa = ScalingConfig.from_scaled_object(loaded.definition, loaded.trigger).hpa
    assert (hpa.min_replicas, hpa.max_replicas, hpa.target_value) == (1, 10, 50)
    assert loaded.trigger.username == "$ConnectionString"
    assert loaded.trigger.password == "Endpoint=sb://x/;SharedAccessKey=k"
    assert "SharedAccessKey=k" not in repr(loaded.trigger)


def test_all_documents_may_share_one_file(tmp_path: Path, files: tuple[Path, Path, Path]) -> None:
    combined = "---\n".join(path.read_text() for path in files)
    loaded = load_scaled_object(_write(tmp_path, "all.yaml", combined))
    assert loaded.trigger.sasl == "plaintext"


def test_from_env_metadata_reads_the_environment(tmp_path: Path) -> None:
    text = SCALED_OBJECT.replace("bootstrapServers: {bootstrap}", "bootstrapServersFromEnv: BROKERS")
    text = text.split("      authenticationRef:")[0].replace("sasl: plaintext", "sasl: none")
    config = _write(tmp_path, "so.yaml", text.format(threshold=5))
    loaded = load_scaled_object(config, env={"BROKERS": "a:9092,b:9092"})
    assert loaded.trigger.bootstrap_servers == ("a:9092", "b:9092")


def test_missing_trigger_authentication_says_which_flag(files: tuple[Path, Path, Path]) -> None:
    with pytest.raises(ConfigError, match="pass --trigger-auth FILE"):
        load_scaled_object(files[0])


def test_secret_data_must_be_base64() -> None:
    document = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "not base64!"}}
    with pytest.raises(ConfigError, match="put plain values under stringData"):
        decode_secret(document)


def test_string_data_wins_over_data() -> None:
    document = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": base64.b64encode(b"old").decode()},
        "stringData": {"k": "new"},
    }
    assert decode_secret(document) == ("s", {"k": "new"})


def _scale_edited_yaml(tmp_path: Path, threshold: int, old: str, new: str) -> Result:
    """`scale --config --once` on the tutorial ScaledObject without its auth, `old` replaced by `new`."""
    text = SCALED_OBJECT.format(bootstrap="broker:9093", threshold=threshold).replace(old, new)
    config = _write(tmp_path, "so.yaml", text.split("      authenticationRef:")[0])
    return CliRunner().invoke(scale, ["--config", str(config), "--once"], env=NO_CONNECTION_ENV)


def test_invalid_trigger_in_yaml_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    result = _scale_edited_yaml(tmp_path, 0, "tls: enable", "tls: enable\n        offsetResetPolicy: newest")
    assert result.exit_code == 2
    # Named where the user wrote them, in the file; not in KEDA's Go wording.
    where = "spec.triggers[0].metadata"
    assert f"{where}.offsetResetPolicy: must be one of latest, earliest, got 'newest'" in result.output
    assert f"{where}.lagThreshold: must be greater than 0, got 0" in result.output
    assert "unmarshal" not in result.output


def test_invalid_flags_list_every_problem_and_exit_2() -> None:
    args = [
        "--bootstrap",
        "b:9092",
        "--topic",
        "t",
        "--lag-threshold",
        "0",
        "--offset-reset-policy",
        "newest",
    ]
    result = CliRunner().invoke(scale, [*args, "--once"], env=NO_CONNECTION_ENV)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1  # one line
    assert "--group: is required" in result.output
    assert "--lag-threshold: must be greater than 0, got 0" in result.output
    assert "--offset-reset-policy: must be one of latest, earliest, got 'newest'" in result.output
    not_a_number = CliRunner().invoke(scale, [*args[:5], "x", "--once"], env=NO_CONNECTION_ENV)
    assert not_a_number.exit_code == 2
    assert "Invalid value for '--lag-threshold': 'x' is not a valid integer" in not_a_number.output


def test_invalid_scaling_flags_exit_2() -> None:
    args = ["--bootstrap", "b:9092", "--group", "g", "--topic", "t"]
    result = CliRunner().invoke(
        scale, [*args, "--min-replicas", "5", "--max-replicas", "2", "--once"], env=NO_CONNECTION_ENV
    )
    assert result.exit_code == 2
    assert "--min-replica-count: (5) must not exceed --max-replica-count (2)" in result.output


def test_connection_trigger_and_scaling_problems_come_together() -> None:
    result = CliRunner().invoke(
        scale, ["--topic", "t", "--polling-interval", "0", "--once"], env=NO_CONNECTION_ENV
    )
    assert result.exit_code == 2
    assert "no bootstrap servers" in result.output
    assert "--group: is required" in result.output
    assert "--polling-interval: must be at least 1, got 0" in result.output


def test_plain_flags_conflict_with_config(files: tuple[Path, Path, Path]) -> None:
    result = CliRunner().invoke(
        scale, ["--config", str(files[0]), "--group", "other", "--once"], env=NO_CONNECTION_ENV
    )
    assert result.exit_code == 2
    assert "--group cannot be combined with --config" in result.output


def test_processes_target_needs_a_topic() -> None:
    args = ["--bootstrap", "b:9092", "--group", "g", "--target", "processes", "--once"]
    result = CliRunner().invoke(scale, args, env=NO_CONNECTION_ENV)
    assert result.exit_code == 2
    assert "--topic: is required with --target processes" in result.output


def test_idle_replicas_without_min_replicas_is_rejected_like_the_yaml() -> None:
    args = ["--bootstrap", "b:9092", "--group", "g", "--topic", "t", "--idle-replicas", "0", "--once"]
    result = CliRunner().invoke(scale, args, env=NO_CONNECTION_ENV)
    assert result.exit_code == 2
    expected = "--idle-replica-count: (0) must be less than --min-replica-count (0): set --min-replica-count"
    assert expected in result.output


def test_sasl_naming_several_modes_is_refused(tmp_path: Path) -> None:
    result = _scale_edited_yaml(tmp_path, 5, "sasl: plaintext", 'sasl: "plaintext,none"')
    assert result.exit_code == 2
    assert "spec.triggers[0].metadata.sasl: 'plaintext,none' names several modes" in result.output
    assert "pick exactly one of none, plaintext, scram_sha256, scram_sha512 or oauthbearer" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--allow-idle-consumers", "--limit-to-partitions-with-lag"], {},
         "--limit-to-partitions-with-lag: cannot be combined with --allow-idle-consumers"),
        (["--topic", "", "--ensure-even-distribution-of-partitions"], {},
         "--topic: is required with --ensure-even-distribution-of-partitions"),
        ([], {"LAGSCALE_PARTITION_LIMITATION": "1-x"}, "--partition-limitation: must list partitions"),
        ([], {"LAGSCALE_SCALER_PARTITION_LIMITATION": "1-x"}, "got '1-x'"),  # the older name still works
        ([], {"LAGSCALE_LIMIT_TO_PARTITIONS_WITH_LAG": "true",
              "LAGSCALE_ENSURE_EVEN_DISTRIBUTION_OF_PARTITIONS": "1"},
         "--ensure-even-distribution-of-partitions: cannot be combined with --limit-to-partitions-with-lag"),
        (["--initial-cooldown-period", "-1"], {}, "--initial-cooldown-period: must be at least 0, got -1"),
        (["--fallback-replicas", "3"], {}, "--fallback-failure-threshold: goes with --fallback-replicas"),
        ([], {"LAGSCALE_FALLBACK_FAILURE_THRESHOLD": "-1", "LAGSCALE_FALLBACK_REPLICAS": "2"},
         "--fallback-failure-threshold: must be at least 0, got -1"),
    ],
)  # fmt: skip
def test_trigger_and_scaled_object_flags_are_judged_by_keda(
    args: list[str], env: dict[str, str], message: str
) -> None:
    base = ["--bootstrap", "b:9092", "--group", "g", "--topic", "t"]
    result = CliRunner().invoke(scale, [*base, *args, "--once"], env={**NO_CONNECTION_ENV, **env})
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_every_trigger_flag_becomes_keda_metadata() -> None:
    options = {
        "group": "g", "topic": "t", "lag_threshold": "5", "activation_lag_threshold": "2",
        "offset_reset_policy": "earliest", "partition_limitation": "0-3", "allow_idle_consumers": True,
        "exclude_persistent_lag": True, "scale_to_zero_on_invalid_offset": True,
        "limit_to_partitions_with_lag": False, "ensure_even_distribution_of_partitions": True,
    }  # fmt: skip
    assert trigger_metadata("b:9092", options) == {
        "bootstrapServers": "b:9092", "consumerGroup": "g", "topic": "t", "lagThreshold": "5",
        "activationLagThreshold": "2", "offsetResetPolicy": "earliest", "partitionLimitation": "0-3",
        "allowIdleConsumers": "true", "excludePersistentLag": "true", "scaleToZeroOnInvalidOffset": "true",
        "ensureEvenDistributionOfPartitions": "true",
    }  # fmt: skip


def test_new_flags_conflict_with_config(files: tuple[Path, Path, Path]) -> None:
    args = ["--config", str(files[0]), "--fallback-replicas", "2", "--bootstrap", "x:1", "--once"]
    result = CliRunner().invoke(scale, args, env=NO_CONNECTION_ENV)
    assert result.exit_code == 2
    assert "--bootstrap, --fallback-replicas cannot be combined with --config" in result.output


def test_creation_timestamp_reaches_the_settings(tmp_path: Path) -> None:
    text = SCALED_OBJECT.replace(
        "  namespace: demo\n", "  namespace: demo\n  creationTimestamp: 2024-05-01T12:00:00Z\n"
    )
    config = _write(tmp_path, "so.yaml", text.format(bootstrap="b:9092", threshold=5))
    auth, secret = _write(tmp_path, "a.yaml", TRIGGER_AUTH), _write(tmp_path, "s.yaml", _secret("u", "p"))
    created = load_scaled_object(config, [auth], [secret]).definition.created_at
    assert created == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert created_ago(created, now=datetime(2024, 5, 1, 12, 1, 30, tzinfo=UTC)) == 90
    assert created_ago(None) is None


def test_a_kubeconfig_that_is_not_yaml_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    kubeconfig = _write(tmp_path, "kubeconfig", "not: [yaml")  # once a yaml.parser traceback
    args = ["--bootstrap", "b:9092", "--group", "g", "--topic", "t", "--target", "kubernetes", "--name", "c"]
    result = CliRunner().invoke(
        scale, [*args, "--kubeconfig", str(kubeconfig), "--once"], env=NO_CONNECTION_ENV
    )
    assert result.exit_code == 2
    error = result.output.splitlines()[-1]
    assert error.startswith(f"error: --kubeconfig: cannot load the Kubernetes config {kubeconfig} (")
    assert ", line 1, column 11)" in error  # where the YAML breaks
    assert "Traceback" not in result.output


def test_the_clusters_hpa_controller_settings_come_from_flags_even_with_config(
    files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ScaledObject holds kube-controller-manager's HPA flags, so --config does not replace them."""
    seen: list[ScalingConfig] = []
    monkeypatch.setattr("scaler.cli.scale._run", lambda settings, *_: seen.append(settings.config))
    config, auth, secret = (str(path) for path in files)
    controller_flags = ["--hpa-sync-period", "5", "--hpa-downscale-stabilization", "15"]
    args = ["--config", config, "--trigger-auth", auth, "--secret", secret]
    result = CliRunner().invoke(
        scale, [*args, *controller_flags, "--hpa-tolerance", "0.2"], env=NO_CONNECTION_ENV
    )
    assert result.exit_code == 0, result.output
    hpa = seen[0].hpa
    assert (hpa.sync_period_seconds, hpa.downscale_stabilization_seconds, hpa.tolerance) == (5, 15, 0.2)
    result = CliRunner().invoke(scale, args, env=NO_CONNECTION_ENV)
    assert result.exit_code == 0, result.output
    hpa = seen[1].hpa  # Kubernetes' defaults
    assert (hpa.sync_period_seconds, hpa.downscale_stabilization_seconds, hpa.tolerance) == (15, 300, 0.1)


def test_an_hpa_sync_period_below_one_second_is_refused_naming_the_flag() -> None:
    args = ["--bootstrap", "b:9092", "--group", "g", "--topic", "t", "--hpa-sync-period", "0", "--once"]
    result = CliRunner().invoke(scale, args, env=NO_CONNECTION_ENV)
    assert result.exit_code == 2
    assert "--hpa-sync-period" in result.output.splitlines()[-1]
