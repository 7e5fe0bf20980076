"""`lagscale lag` end to end against the real broker: numbers, KEDA's decisions, errors, --watch."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from offsets_helpers import commit, produce

from lagscale.cli import main

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]
# Connection variables of the outer shell must not leak into the command under test.
_CLEAN_ENV = {
    name: None for name in os.environ if name.startswith(("KAFKA_EVENTHUB_", "LAGSCALE_", "EVENTHUBS_"))
}


def run_lag(*args: str) -> Result:
    return CliRunner(env=_CLEAN_ENV).invoke(main, ["lag", *args], catch_exceptions=False)


def lag_json(bootstrap: str, *args: str) -> dict[str, Any]:
    result = run_lag("--bootstrap", bootstrap, "--json", *args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def rows(report: dict[str, Any]) -> list[tuple[int, int, int | None, int, str]]:
    return [
        (p["partition"], p["committed"], p["log_end"], p["lag"], p["status"]) for p in report["partitions"]
    ]


def test_json_numbers_match_what_was_produced_and_committed(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("lag", partitions=4), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 30, 1: 12, 2: 7})
    commit(kafka.bootstrap, group, {(topic, 0): 10, (topic, 1): 12})

    report = lag_json(kafka.bootstrap, "--group", group, "--topic", topic, "--current-replicas", "1")

    # Uncommitted partitions count 1 under the default `latest` policy, even an empty one (KEDA).
    assert rows(report) == [(0, 10, 30, 20, "counted"), (1, 12, 12, 0, "counted"), (2, -1, 7, 1, "counted"),
                            (3, -1, 0, 1, "counted")]  # fmt: skip
    assert (report["total_lag"], report["partitions_with_lag"], report["partition_count"]) == (22, 3, 4)
    assert (report["metric_name"], report["metric"], report["metric_milli"]) == (
        f"s0-kafka-{topic}",
        "22",
        22000,
    )
    assert report["active"] is True
    assert report["hpa"]["proposal"] == 3  # ceil(22 / 10)
    assert report["requests"] == 3


def test_earliest_policy_counts_deleted_records_unless_fixed(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("earliest", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 10, 1: 10})
    commit(kafka.bootstrap, group, {(topic, 0): 10})
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.delete_records([TopicPartition(topic, 1, 4)])[TopicPartition(topic, 1, 4)].result(timeout=30)
    base = ("--group", group, "--topic", topic, "--offset-reset-policy", "earliest")

    keda = lag_json(kafka.bootstrap, *base)
    fixed = lag_json(kafka.bootstrap, *base, "--fixes", "earliest_from_log_start")

    assert (keda["total_lag"], "earliest-counts-deleted-records" in keda["quirks"]) == (10, True)
    assert (fixed["total_lag"], fixed["fixes"]) == (6, ["earliest_from_log_start"])


def test_cap_off_by_one_as_keda_and_exact_with_the_fix(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("cap", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 15, 1: 14})
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    base = ("--group", group, "--topic", topic)

    keda = lag_json(kafka.bootstrap, *base)
    fixed = lag_json(kafka.bootstrap, *base, "--fixes", "exact_cap")

    # 2 partitions x threshold 10: KEDA lets 29 through (29 // 10 = 2 is not > 2); the fix caps at 20.
    assert (keda["metric"], keda["capped"], keda["hpa"]["proposal"]) == ("29", False, 3)
    assert "cap-off-by-one" in keda["quirks"]
    assert (fixed["metric"], fixed["capped"], fixed["cap_upper"]) == ("20", True, 2)


def test_min_replicas_zero_gives_keda_hpa_min_one_and_trigger_flags_reach_keda(
    kafka, make_topic, unique_name
) -> None:
    topic, group = make_topic("bounds", partitions=4), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 30, 2: 30})
    commit(kafka.bootstrap, group, {(topic, p): 0 for p in range(4)})

    report = lag_json(kafka.bootstrap, "--group", group, "--topic", topic, "--min-replicas", "0",
                      "--partition-limitation", "0-1")  # fmt: skip

    assert (report["hpa"]["min_replicas"], report["hpa"]["max_replicas"]) == (1, 100)
    assert ([p["partition"] for p in report["partitions"]], report["total_lag"]) == ([0, 1], 30)


def test_no_topic_sums_every_topic_the_group_committed(kafka, make_topic, unique_name) -> None:
    first, second = make_topic("first", partitions=1), make_topic("second", partitions=1)
    group = unique_name("group")
    produce(kafka.bootstrap, first, {0: 8})
    produce(kafka.bootstrap, second, {0: 5})
    commit(kafka.bootstrap, group, {(first, 0): 3, (second, 0): 1})

    report = lag_json(kafka.bootstrap, "--group", group, "--lag-threshold", "2")

    assert report["metric_name"] == f"s0-kafka-{group}-topics"
    assert {p["topic"]: p["lag"] for p in report["partitions"]} == {first: 5, second: 4}
    # 9 // 2 = 4 > 2 partitions: capped at 2 x 2.
    assert (report["total_lag"], report["metric"], report["capped"]) == (9, "4", True)


def test_table_says_what_keda_would_do(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("table", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 3})
    commit(kafka.bootstrap, group, {(topic, 0): 1})

    result = run_lag("--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic, "--rows", "0")

    assert result.exit_code == 0, result.output
    for expected in ("What KEDA would do", f"s0-kafka-{topic} = 3", "uncommitted", "active (3 >"):
        assert expected in " ".join(result.stdout.split()), expected


def test_invalid_trigger_lists_every_problem_by_flag_and_exits_2(kafka) -> None:
    result = run_lag("--bootstrap", kafka.bootstrap, "--group", "g", "--lag-threshold", "0",
                     "--offset-reset-policy", "newest")  # fmt: skip
    assert result.exit_code == 2
    assert result.output == (
        "error: invalid settings: --offset-reset-policy: must be one of latest, earliest, got 'newest'; "
        "--lag-threshold: must be greater than 0, got 0\n"
    )  # the flags the user wrote, not KEDA's Go wording (`unable to set param "lagThreshold" ...`)
    not_a_number = run_lag("--bootstrap", kafka.bootstrap, "--group", "g", "--lag-threshold", "ten")
    assert not_a_number.exit_code == 2
    assert "Invalid value for '--lag-threshold': 'ten' is not a valid integer" in not_a_number.output


def test_missing_group_flag_exits_2_naming_the_flag(kafka) -> None:
    result = run_lag("--bootstrap", kafka.bootstrap, "--topic", "t")
    assert result.exit_code == 2
    assert result.output == "error: invalid settings: --group: is required\n"


def test_missing_topic_is_one_clear_line(kafka, unique_name) -> None:
    missing = unique_name("missing")
    result = run_lag("--bootstrap", kafka.bootstrap, "--group", "g", "--topic", missing)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"error: topic '{missing}' does not exist: create it, or fix `topic` in the trigger"
    )


def test_broker_down_is_reported_within_the_timeout(free_port: Callable[[], int]) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run_lag("--bootstrap", address, "--group", "g", "--topic", "t", "--timeout", "2")
    assert result.exit_code == 1
    assert f"cannot reach Kafka at {address} within 2s" in result.output
    assert time.monotonic() - started < 10


def test_group_without_commits_warns(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("nocommit", partitions=1), unique_name("group")
    report_result = run_lag("--bootstrap", kafka.bootstrap, "--group", group, "--topic", topic, "--json")
    assert report_result.exit_code == 0
    assert f"warning: group '{group}' has no committed offsets" in report_result.stderr


class JsonLines:
    """Reads a child's stdout on a thread so the test can wait for lines with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=lambda: [self.lines.put(line) for line in stream], daemon=True).start()

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no matching evaluation before the timeout"
            try:
                report = dict(json.loads(self.lines.get(timeout=remaining)))
            except queue.Empty:
                continue
            if condition(report):
                return report


def test_watch_refreshes_and_keeps_the_persistent_lag_history(kafka, make_topic, unique_name) -> None:
    topic, group = make_topic("watch", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 20, 1: 5})
    commit(kafka.bootstrap, group, {(topic, 0): 5, (topic, 1): 5})
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
    command = [sys.executable, "-m", "lagscale", "lag", "--bootstrap", kafka.bootstrap, "--group", group,
               "--topic", topic, "--json", "--watch", "0.2", "--exclude-persistent-lag"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        lines = JsonLines(process)
        first = lines.wait_for(lambda report: True)
        # The same committed offset on the next poll: excluded from the metric, still active.
        stuck = lines.wait_for(lambda report: report["total_lag"] == 0)
        commit(kafka.bootstrap, group, {(topic, 0): 12})
        moved = lines.wait_for(lambda report: report["partitions"][0]["committed"] == 12)
    finally:
        process.terminate()
        process.wait(10)
    assert (first["total_lag"], first["metric"]) == (15, "15")
    assert (stuck["total_lag_with_persistent"], stuck["active"], stuck["partitions"][0]["status"]) == (
        15,
        True,
        "excluded",
    )
    assert (moved["partitions"][0]["lag"], moved["partitions"][0]["status"]) == (8, "counted")


SCALED_OBJECT = """
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: consumer-scaler, namespace: default}}
spec:
  scaleTargetRef: {{name: consumer}}
  maxReplicaCount: 2
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: "{bootstrap}"
        consumerGroup: "{group}"
        topic: "{topic}"
        lagThreshold: "5"
        sasl: scram_sha256
      authenticationRef: {{name: kafka-auth}}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {{name: kafka-auth}}
spec:
  secretTargetRef:
    - {{parameter: username, name: kafka-secret, key: username}}
    - {{parameter: password, name: kafka-secret, key: password}}
"""
SECRET = """
apiVersion: v1
kind: Secret
metadata: {{name: kafka-secret}}
stringData: {{username: "{username}", password: "{password}"}}
"""


def test_config_reads_a_scaled_object_with_trigger_auth_and_secret(
    kafka, make_topic, unique_name, tmp_path: Path
) -> None:
    topic, group = make_topic("config", partitions=2), unique_name("group")
    produce(kafka.bootstrap, topic, {0: 7, 1: 5})
    commit(kafka.bootstrap, group, {(topic, 0): 0, (topic, 1): 0})
    config, secret = tmp_path / "scaledobject.yaml", tmp_path / "secret.yaml"
    config.write_text(SCALED_OBJECT.format(bootstrap=kafka.bootstrap_sasl, group=group, topic=topic))
    secret.write_text(SECRET.format(username=kafka.sasl_username, password=kafka.sasl_password))

    result = run_lag("--config", str(config), "--secret", str(secret), "--json")
    mixed = run_lag("--config", str(config), "--secret", str(secret), "--group", "other")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # threshold 5 from the YAML: 12 // 5 = 2 is not > 2 partitions, so 12 passes; HPA max 2 from the YAML.
    assert (report["metric"], report["lag_threshold"], report["hpa"]["proposal"]) == ("12", 5, 3)
    assert (report["hpa"]["max_replicas"], report["hpa"]["replicas"]) == (2, 2)
    assert kafka.sasl_password not in result.output
    assert mixed.exit_code == 2
    assert "--group cannot be combined with --config" in mixed.output
