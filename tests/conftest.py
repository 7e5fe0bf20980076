"""Shared fixtures: the real local Kafka broker started by scripts/kafka, plus per-test names/topics.

Fixtures are lazy, so only tests that ask for `kafka` (directly or through `admin`/`make_topic`)
start the broker; tests/unit never does. Set LAGSCALE_BOOTSTRAP to use a broker that is already
running instead (the other fields then come from the environment or from the kafka.env file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from lagscale.demo.local_broker import kafka_env_file, kafka_state_dir, parse_env_file

# The Kubernetes fixtures (`kube`, `namespace`) serve the k8s and e2e tiers alike.
pytest_plugins = ["k8s_fixtures", "oidc_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka"
SCRIPT_TIMEOUT_S = 600
TOPIC_TIMEOUT_S = 30.0


def pytest_configure(config: pytest.Config) -> None:
    # A harness that runs us in the background (`make test &` in a script) hands SIGINT down ignored,
    # and every command a test starts would inherit that. The Ctrl+C tests need what a terminal gives.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class KafkaEndpoints:
    """How to reach each listener of the test broker. Secrets are kept out of repr()."""

    bootstrap: str
    bootstrap_sasl: str
    bootstrap_ssl: str
    bootstrap_oauth: str
    sasl_username: str
    sasl_password: str = field(repr=False)
    ca_file: str
    eventhubs_connection_string: str = field(repr=False)


# KafkaEndpoints field -> the variable scripts/kafka writes into kafka.env.
ENV_VARS = {f.name: f"LAGSCALE_{f.name.upper()}" for f in fields(KafkaEndpoints)}


def endpoints_from(*sources: Mapping[str, str]) -> KafkaEndpoints:
    """Builds the endpoints, taking each variable from the first source that has it."""
    found: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        value = next((source[var] for source in sources if source.get(var)), None)
        if value is None:
            raise RuntimeError(
                f"{var} is not set: export it, or run scripts/kafka up to write {kafka_env_file()}"
            )
        found[name] = value
    return KafkaEndpoints(**found)


def run_kafka_script(verb: str) -> subprocess.CompletedProcess[str]:
    # The token-auth tests need the OAUTHBEARER listeners (and scripts/oidc up, as the lab has it).
    env = dict(os.environ, LAGSCALE_KAFKA_OAUTH=os.environ.get("LAGSCALE_KAFKA_OAUTH", "on"))
    return subprocess.run(
        [str(KAFKA_SCRIPT), verb],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Polls `condition` until it returns True; fails the test after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def broker_state_lock() -> Iterator[None]:
    """Serialises start/stop decisions between pytest runs sharing one broker."""
    state = kafka_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    with (state / "pytest.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def broker_pid() -> str:
    pid_file = kafka_state_dir() / "broker.pid"
    return pid_file.read_text().strip() if pid_file.exists() else ""


def start_broker_unless_running() -> None:
    """Starts the broker if needed, marking it as started by a test run."""
    if run_kafka_script("status").returncode == 0:
        return
    result = run_kafka_script("up")
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/kafka up failed (exit {result.returncode}); its output:\n"
            f"{result.stdout}{result.stderr[-6000:]}"
        )
    # Remember WHICH broker a test run started, so a later hand-started one is never mistaken for it.
    (kafka_state_dir() / "started-by-pytest").write_text(broker_pid())


def release_broker(lease: Path) -> None:
    """Drops this run's lease; the last run using a broker that a test run started stops it.
    A broker started by hand (scripts/kafka up) is never stopped here."""
    lease.unlink(missing_ok=True)
    others = [p for p in lease.parent.iterdir() if p.name.isdigit() and process_alive(int(p.name))]
    marker = kafka_state_dir() / "started-by-pytest"
    if not marker.exists() or others:
        return
    if marker.read_text() == broker_pid():
        run_kafka_script("down")
    marker.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaEndpoints]:
    """The broker's endpoints; starts it once per run unless LAGSCALE_BOOTSTRAP points elsewhere."""
    if os.environ.get("LAGSCALE_BOOTSTRAP"):
        env_file = kafka_env_file()
        file_values = parse_env_file(env_file) if env_file.exists() else {}
        yield endpoints_from(os.environ, file_values)
        return
    # Concurrent pytest runs may share the broker: each holds a lease (its PID) while it runs.
    lease = kafka_state_dir() / "pytest-leases" / str(os.getpid())
    with broker_state_lock():
        start_broker_unless_running()
        lease.parent.mkdir(exist_ok=True)
        lease.touch()
    try:
        yield endpoints_from(parse_env_file(kafka_env_file()))
    finally:
        with broker_state_lock():
            release_broker(lease)


@pytest.fixture(scope="session")
def admin(kafka: KafkaEndpoints) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka.bootstrap})


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[[Callable[[], bool], float, str], None]:
    """The polling helper, for tests that cannot import conftest."""
    return wait_until


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory: prefix -> prefix plus a random suffix, for topics, groups and namespaces."""

    def make(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    return make


def topic_ready(admin: AdminClient, name: str, partitions: int) -> bool:
    topic = admin.list_topics(topic=name, timeout=5).topics.get(name)
    if topic is None or topic.error is not None or len(topic.partitions) != partitions:
        return False
    return all(p.leader >= 0 for p in topic.partitions.values())


@pytest.fixture
def make_topic(admin: AdminClient, unique_name: Callable[[str], str]) -> Iterator[Callable[..., str]]:
    """Factory: creates a uniquely named topic, waits until every partition has a leader, and
    deletes it when the test ends."""
    created: list[str] = []

    def make(prefix: str = "topic", partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        name = unique_name(prefix)
        new_topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=dict(config or {}))
        admin.create_topics([new_topic], operation_timeout=TOPIC_TIMEOUT_S)[name].result(
            timeout=TOPIC_TIMEOUT_S
        )
        created.append(name)
        wait_until(
            lambda: topic_ready(admin, name, partitions),
            TOPIC_TIMEOUT_S,
            f"topic {name} with {partitions} partition(s)",
        )
        return name

    yield make
    if created:
        for future in admin.delete_topics(created, operation_timeout=TOPIC_TIMEOUT_S).values():
            try:
                future.result(timeout=TOPIC_TIMEOUT_S)
            except KafkaException as exc:
                # A test may delete its own topic; anything else is a real teardown failure.
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
