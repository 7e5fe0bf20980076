"""`lagscale scale` while its broker goes away and comes back: replicas are held (KEDA never scales
to zero on errors), every failed evaluation is counted, the recovery is logged, and scaling goes on.

The outage is real: the test runs a second broker of its own (tests/own_broker.py: scripts/kafka
with another state directory and free ports), stops it mid-run and starts it again on the same data.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from offsets_helpers import commit, env_without_connection_settings, produce
from own_broker import OwnBroker

pytestmark = pytest.mark.kafka

PARTITIONS = 4
COOLDOWN_S = 2
WaitUntil = Callable[[Callable[[], bool], float, str], None]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path / "state")  # on free ports
    broker.run("up")
    try:
        yield broker
    finally:
        broker.run("down", "--purge")


def test_replicas_are_held_through_an_outage_and_scaling_resumes(
    own_broker: OwnBroker,
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
    log_lines: Callable[..., list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    bootstrap, topic, group = own_broker.bootstrap, unique_name("outage"), unique_name("outage-group")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    produce(bootstrap, topic, dict.fromkeys(range(PARTITIONS), 25))  # 100 behind: 10 wanted, 4 allowed
    log = tmp_path / "scale.log"

    def decisions() -> list[dict[str, str]]:
        return log_lines(log.read_text(errors="replace"), "decision")

    env = env_without_connection_settings()
    command = [
        sys.executable, "-m", "scaler", "--target", "dry-run", "--mode", "direct",
        "--bootstrap", bootstrap, "--group", group, "--topic", topic, "--offset-reset-policy", "earliest",
        "--polling-interval", "1", "--cooldown-period", str(COOLDOWN_S), "--timeout", "1",
    ]  # fmt: skip
    with log.open("wb") as output:
        scaler = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: any(d["desired"] == "4" for d in decisions()), 60, "scale-out to 4")
        own_broker.run("down")  # the outage; the data stays
        held_from = len(decisions())
        wait_until(
            lambda: sum(1 for d in decisions()[held_from:] if d.get("reason", "").startswith("error")) >= 4,
            60,
            "four failed polls, more than the cooldown",
        )
        own_broker.run("up")
        wait_until(lambda: "event=recovered" in log.read_text(), 60, "the recovery to be logged")
        commit(bootstrap, group, {(topic, p): 25 for p in range(PARTITIONS)})  # the consumers' work, done
        wait_until(lambda: decisions()[-1]["desired"] == "0", 60, "scale-in to 0 once the lag is gone")
    finally:
        scaler.terminate()
        scaler.wait(30)

    during = [d for d in decisions()[held_from:] if d.get("reason", "").startswith("error")]
    assert during, log.read_text()
    assert {(d["current"], d["desired"]) for d in during} == {("4", "4")}  # held, never to zero
    counts = [int(d["reason"].split("(")[1].split()[0]) for d in during]
    assert counts == sorted(counts)  # "error (N consecutive)": counted up, never reset meanwhile
    assert counts[-1] >= 4
    failures = [line for line in log.read_text().splitlines() if "event=evaluation_failed" in line]
    assert len(failures) >= len(during)
