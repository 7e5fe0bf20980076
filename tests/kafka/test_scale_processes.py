"""The scaling loop driving real `python -m consumer` processes on a real backlog, 0 -> N -> 0."""

from __future__ import annotations

import base64
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from keda_cap import peak_problem
from offsets_helpers import env_without_connection_settings

from kafkakit.events import Event, encode_event
from kafkakit.probe_server import ProbeServer
from kafkakit.profiles import build_profile
from scaler.kafka.connection import KafkaConnection
from scaler.kafka.offsets import KafkaOffsetSource, OffsetQuery
from scaler.keda.executor import ScaledObjectSpec
from scaler.keda.hpa import HpaController
from scaler.keda.trigger import parse_trigger
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import Decision, Mode
from scaler.loop.metrics import ScalerMetrics
from scaler.loop.scaling_loop import ScalingLoop
from scaler.targets.processes import ProcessTarget

if TYPE_CHECKING:
    from conftest import KafkaEndpoints

PARTITIONS = 4
BACKLOG = 400
THRESHOLD = 50
SCALE_TIMEOUT_S = 180.0

# A stand-in replica: says it is ready, then ignores SIGTERM (or exits on it), so stop paths show.
_STUBBORN = (
    "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    "time.sleep(600)"
)
_POLITE = "import time; print('ready', flush=True); time.sleep(600)"


def _ready(log_dir: Path, count: int) -> bool:
    return sum("ready" in path.read_text() for path in log_dir.glob("replica-*.log")) >= count


def test_process_target_terminates_then_kills_after_grace(
    tmp_path: Path, wait_until: Callable[[Callable[[], bool], float, str], None]
) -> None:
    stubborn = ProcessTarget(
        [], command=[sys.executable, "-c", _STUBBORN], stop_grace_seconds=0.5, log_dir=tmp_path / "s"
    )
    polite = ProcessTarget([], command=[sys.executable, "-c", _POLITE], log_dir=tmp_path / "p")
    try:
        stubborn.set_replicas(2)
        polite.set_replicas(3)
        assert stubborn.current_replicas() == 2
        assert polite.current_replicas() == 3
        wait_until(lambda: _ready(tmp_path / "s", 2) and _ready(tmp_path / "p", 3), 30, "replicas ready")
        oldest = polite.pids[0]
        polite.set_replicas(1)
        assert polite.pids == [oldest]  # the newest replicas go first
        stubborn.set_replicas(0)  # SIGTERM ignored: killed after the grace period
        assert stubborn.pids == []
    finally:
        stubborn.close()
        polite.close()
    assert polite.current_replicas() == 0


def test_process_target_counts_only_live_replicas(
    tmp_path: Path, wait_until: Callable[[Callable[[], bool], float, str], None]
) -> None:
    target = ProcessTarget([], command=[sys.executable, "-c", _POLITE], log_dir=tmp_path)
    try:
        target.set_replicas(2)
        crashed, survivor = target.pids
        os.kill(crashed, signal.SIGKILL)  # one of ours, by PID
        wait_until(lambda: target.current_replicas() == 1, 30, "the killed replica reaped")
        target.set_replicas(2)  # what the loop's next step does: a replacement, like a ReplicaSet
        assert target.pids[0] == survivor
        assert crashed not in target.pids
        assert len(target.pids) == 2
    finally:
        target.close()


def _produce(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    """`count` valid events, round-robin over the partitions."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for sequence in range(count):
        payload = encode_event(Event.new(sequence, "scale-test"))
        producer.produce(topic, payload, partition=sequence % partitions)
    assert producer.flush(30) == 0, "events not delivered"


def _committed(bootstrap: str, group: str, topic: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return [tp.offset for tp in consumer.committed(partitions, timeout=10)]
    finally:
        consumer.close()


@pytest.fixture
def running_loop() -> Iterator[Callable[[ScalingLoop], threading.Event]]:
    """Runs loops in background threads; stops and joins them when the test ends."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(loop: ScalingLoop) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,), name="scaling-loop", daemon=True)
        thread.start()
        started.append((thread, stop))
        return stop

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(timeout=60)


@pytest.mark.kafka
@pytest.mark.parametrize(("mode", "first_step"), [("direct", PARTITIONS), ("keda", 1)])
def test_scales_consumers_zero_to_n_to_zero_on_a_real_backlog(
    mode: Mode,
    first_step: int,
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[[Callable[[], bool], float, str], None],
    running_loop: Callable[[ScalingLoop], threading.Event],
    tmp_path: Path,
) -> None:
    topic = make_topic("scale", partitions=PARTITIONS)
    group = unique_name("scale-workers")
    _produce(kafka.bootstrap, topic, BACKLOG, PARTITIONS)
    trigger = parse_trigger(
        {
            "bootstrapServers": kafka.bootstrap,
            "consumerGroup": group,
            "topic": topic,
            "lagThreshold": str(THRESHOLD),
            "offsetResetPolicy": "earliest",  # a new group's backlog counts in full
        }
    )
    spec = ScaledObjectSpec(polling_interval=1, cooldown_period=5, max_replica_count=10).validate()
    target = ProcessTarget(
        ["--topic", topic, "--group", group, "--bootstrap", kafka.bootstrap, "--process-time", "0.05"],
        log_dir=tmp_path / "consumers",
    )
    metrics = ScalerMetrics("scale-test")
    server = ProbeServer("127.0.0.1", 0, metrics.health, metrics.render)
    decisions: list[Decision] = []

    def record(decision: Decision) -> None:
        decisions.append(decision)
        metrics.observe(decision)

    profile = build_profile("plaintext", bootstrap=kafka.bootstrap)
    # A short HPA sync and stabilisation window, so the keda rhythm fits in a test.
    controller = HpaController(sync_period_seconds=2, downscale_stabilization_seconds=4)
    loop = ScalingLoop(
        ScalingConfig(trigger, spec, controller=controller, mode=mode),
        KafkaOffsetSource(KafkaConnection(profile), OffsetQuery.for_trigger(trigger)),
        target,
        on_decision=record,
    )
    try:
        stop = running_loop(loop)
        wait_until(lambda: target.current_replicas() > 0, 30, "scale-out from zero")
        scrape = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
        health = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5).status
        wait_until(
            lambda: any(d.changed and d.desired == 0 for d in decisions),
            SCALE_TIMEOUT_S,
            "backlog drained and scaled back to zero",
        )
        stop.set()
    finally:
        target.close()
        server.stop()

    changes = [d for d in decisions if d.changed]
    story = "\n".join(
        f"{d.time - decisions[0].time:5.1f}s {d.current}->{d.desired} "
        f"[{d.path} metric={d.metric} lag={d.total_lag}] {d.reason}"
        for d in changes
    )
    print(story)  # shown with -rA, and with the failure otherwise
    desired = [d.desired for d in changes]
    # direct: 400 lag / 50 = 8, capped at 4 partitions, at once; keda: 0 -> 1, then the HPA.
    assert desired[0] == first_step, story
    peak = max(desired)
    if mode == "direct":
        assert peak == PARTITIONS, story  # direct mode never sizes above the partition cap
    else:
        # The HPA takes the 4 partitions; one more only by KEDA's cap quirk, when a sync reads a lag
        # strictly between 200 and 250 (uncapped: 4 x 50 < lag, lag // 50 = 4 is not > 4).
        assert peak >= PARTITIONS, story
        behind = next(d for d in changes if d.desired == peak)
        metric = behind.metric if behind.path == "hpa" else None
        problem = peak_problem(peak, PARTITIONS, THRESHOLD, metric)
        assert problem is None, f"{problem}\n{story}"
    assert desired[-1] == 0, story
    assert "lagscale_partition_lag" in scrape
    scraped_desired = re.search(r'lagscale_desired_replicas\{scaledobject="scale-test"\} (\d+)\.0', scrape)
    assert scraped_desired is not None
    assert int(scraped_desired.group(1)) >= 1
    assert health == 200
    # KEDA counts the cooldown from the last active poll; HPA syncs (at their own times) do not count.
    last_active = max(d.time for d in decisions if d.active and d.path == "poll")
    to_zero = next(d for d in decisions if d.changed and d.desired == 0)
    # The cooldown runs from the last active poll, whose time KEDA keeps in whole seconds.
    assert to_zero.time > math.floor(last_active) + spec.cooldown_period
    assert _committed(kafka.bootstrap, group, topic) == [BACKLOG // PARTITIONS] * PARTITIONS


def _scaler(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m scaler ...` with no connection settings inherited from this environment."""
    env = env_without_connection_settings()
    return subprocess.run(
        [sys.executable, "-m", "scaler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _fields(line: str) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in shlex.split(line))


@pytest.mark.kafka
def test_scale_once_with_plain_flags_prints_the_decision(
    kafka: KafkaEndpoints, make_topic: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    topic = make_topic("scale-once", partitions=2)
    _produce(kafka.bootstrap, topic, 35, partitions=2)
    result = _scaler(
        "--bootstrap", kafka.bootstrap, "--group", unique_name("g"), "--topic", topic,
        "--offset-reset-policy", "earliest", "--mode", "direct", "--once",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    decision = _fields(result.stdout.strip())
    # 35 // 10 = 3 > 2 partitions: KEDA caps the metric at 2 x 10.
    assert (decision["metric"], decision["total_lag"], decision["desired"]) == ("20", "35", "2")
    assert "capped at 2 partitions" in decision["reason"]


@pytest.mark.kafka
def test_scale_once_reads_a_keda_scaled_object_with_sasl_auth(
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = make_topic("scale-yaml", partitions=3)
    _produce(kafka.bootstrap, topic, 90, partitions=3)
    encoded = base64.b64encode(kafka.sasl_password.encode()).decode()
    manifest = f"""\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: consumer-so, namespace: demo}}
spec:
  scaleTargetRef: {{name: consumer}}
  pollingInterval: 5
  maxReplicaCount: 10
  triggers:
    - type: kafka
      metadata:
        bootstrapServers: {kafka.bootstrap_sasl}
        consumerGroup: {unique_name("g")}
        topic: {topic}
        lagThreshold: "20"
        offsetResetPolicy: earliest
        sasl: plaintext
      authenticationRef: {{name: kafka-auth}}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {{name: kafka-auth, namespace: demo}}
spec:
  secretTargetRef:
    - {{parameter: username, name: kafka-secret, key: user}}
    - {{parameter: password, name: kafka-secret, key: password}}
"""
    secret = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: kafka-secret, namespace: demo}}
stringData: {{user: {kafka.sasl_username}}}
data: {{password: {encoded}}}
"""
    (tmp_path / "so.yaml").write_text(manifest)
    (tmp_path / "secret.yaml").write_text(secret)
    args = ["--config", str(tmp_path / "so.yaml"), "--secret", str(tmp_path / "secret.yaml")]
    result = _scaler(*args, "--current-replicas", "1", "--once")
    assert result.returncode == 0, result.stderr
    poll, hpa = (_fields(line) for line in result.stdout.strip().splitlines())
    assert (poll["path"], poll["active"], poll["desired"]) == ("poll", "true", "1")
    # 90 lag / 20 = 4.5 -> 5 wanted, but 90 // 20 = 4 > 3 partitions: capped at 60 -> 3.
    assert (hpa["path"], hpa["metric"], hpa["desired"]) == ("hpa", "60", "3")
    assert kafka.sasl_password not in result.stdout + result.stderr


def test_scale_once_against_no_broker_fails_in_one_clear_line() -> None:
    result = _scaler(
        "--bootstrap", "127.0.0.1:1", "--group", "g", "--topic", "t", "--timeout", "1", "--once",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "error: the evaluation failed (see the error above)"


def test_scale_serve_grpc_serves_until_sigterm(
    tmp_path: Path, wait_until: Callable[[Callable[[], bool], float, str], None]
) -> None:
    """`scale --serve-grpc` is what the `external` manifests run: KEDA asks, we answer."""
    env = env_without_connection_settings()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scaler", "--serve-grpc", "127.0.0.1:0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_until(
            lambda: (
                "serving KEDA external scaler on 127.0.0.1:" in log_path.read_text()
                or process.poll() is not None
            ),
            30,
            "the gRPC server to start",
        )
        assert process.poll() is None, log_path.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "event=grpc_stopped" in log_path.read_text()


@pytest.mark.kafka
def test_scale_command_runs_consumer_processes_and_stops_them_on_sigterm(
    kafka: KafkaEndpoints,
    make_topic: Callable[..., str],
    unique_name: Callable[[str], str],
    wait_until: Callable[[Callable[[], bool], float, str], None],
    tmp_path: Path,
) -> None:
    topic = make_topic("scale-cli", partitions=2)
    _produce(kafka.bootstrap, topic, 120, partitions=2)
    env = env_without_connection_settings()
    log_path = tmp_path / "scaler.log"
    argv = [
        sys.executable, "-m", "scaler", "--bootstrap", kafka.bootstrap, "--group", unique_name("g"),
        "--topic", topic, "--lag-threshold", "20", "--offset-reset-policy", "earliest",
        "--polling-interval", "1", "--cooldown-period", "30", "--mode", "direct",
        "--target", "processes", "--process-time", "0.02", "--stop-grace", "20",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        scaler = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # 120 lag / 20 = 6, capped at 2 partitions: two consumers, then the lag drains.
        wait_until(lambda: "total_lag=0 " in log_path.read_text(), SCALE_TIMEOUT_S, "the backlog drained")
        started = [
            _fields(line) for line in log_path.read_text().splitlines() if "event=replica_started" in line
        ]
        assert [entry["replicas"] for entry in started] == ["1", "2"]
        scaler.send_signal(signal.SIGTERM)  # before the cooldown: the scaler must stop its replicas
        assert scaler.wait(timeout=60) == 0
    finally:
        if scaler.poll() is None:
            scaler.kill()
            scaler.wait()
    stopped = [_fields(line) for line in log_path.read_text().splitlines() if "event=replica_stopped" in line]
    assert sorted(entry["pid"] for entry in stopped) == sorted(entry["pid"] for entry in started)
    assert all(entry["exit_code"] == "0" for entry in stopped)  # SIGTERM: committed and left the group
