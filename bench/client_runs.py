"""What bench_clients.py's producer and consumer parts share: timing whole processes and the
topics they work on."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENT_BYTES = 200
PARTITIONS = 3


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


# Runs the command and reports its wall time, CPU time and peak RSS. A process started from the
# benchmark itself would report the benchmark's own resident size as its peak (a forked child
# starts with its parent's pages counted); started from this small interpreter, the floor is
# about 9 MB, below every process measured here.
_LAUNCHER = """
import os, sys, time
devnull = os.open(os.devnull, os.O_WRONLY)
started = time.monotonic()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - started
print(os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def timed(command: list[str], stdin_path: Path | None = None, cwd: Path = REPO_ROOT) -> Run:
    """Run `command` to completion; wall time, user+sys CPU and peak RSS of that process."""
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, *command]
    with stdin_path.open("rb") if stdin_path else open(os.devnull, "rb") as stdin:
        result = subprocess.run(launcher, cwd=cwd, stdin=stdin, capture_output=True, check=False)
    error = result.stderr.decode(errors="replace")
    if result.returncode != 0 or not result.stdout:
        raise SystemExit(f"the launcher of {' '.join(command)} failed:\n{error[-2000:]}")
    code, wall, cpu, rss_kb = result.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(command)} failed ({int(code)}):\n{error[-2000:]}")
    return Run(float(wall), float(cpu), int(rss_kb) / 1024)


def make_topic(admin: AdminClient, prefix: str, partitions: int = PARTITIONS) -> str:
    name = f"bench-{prefix}-{secrets.token_hex(3)}"
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    time.sleep(0.5)  # leaders settle; not part of any measurement
    return name


def end_offsets(bootstrap: str, topic: str) -> int:
    """Events in the topic (it starts at offset 0 in every partition)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-size"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(PARTITIONS))
    finally:
        consumer.close()


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on `topic`, i.e. events it committed (partitions
    without a commit count 0)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(0, tp.offset) for tp in committed)
    finally:
        consumer.close()
