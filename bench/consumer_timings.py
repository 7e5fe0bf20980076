"""Timings of lone `python -m consumer` and `python -m producer` processes, measured on the broker:

* event overhead: what one event costs beyond its --process-time, when the work is real sleeping
  as in the local demo (0.1 s per event, no per-event log lines). The consumer's summary line
  gives its busy time over a backlog: overhead = busy / processed - process time. It grows with
  the machine's load (sleeping overshoots), so the median of REPEATS consumers is kept.
* join latency: from its `start` line to its first assignment, as the only member of a new group
  (nobody else to wait for), per protocol and assignor; the median of REPEATS groups.
* producer start: from starting `python -m producer` to its `start` line (connected, about to
  send); the median of REPEATS producers. The local demo's load arrives that long after its start.
"""

from __future__ import annotations

import re
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from confluent_kafka.admin import AdminClient, NewTopic
from rebalance_fleet import REPO_ROOT, child_env, log_time

PROCESS_TIME = 0.1
EVENTS = 100
REPEATS = 3
_SUMMARY = re.compile(r"event=summary processed=(\d+) .* seconds=([0-9.]+)")
_START = re.compile(r"^ts=(\S+) \S+ \S+ event=start ", re.MULTILINE)
_ASSIGNED = re.compile(r"^ts=(\S+) \S+ \S+ event=assigned partitions=[^n ]", re.MULTILINE)


def _start_line(log: str) -> float:
    match = _START.search(log)
    if match is None:
        raise SystemExit(f"error: no start line:\n{log[-2000:]}")
    return log_time(match.group(1).encode())


def measure_producer_start(bootstrap: str) -> float:
    """Seconds from starting a producer to its `start` line (median of REPEATS)."""
    starts = []
    for _ in range(REPEATS):
        topic = f"bench-producer-{secrets.token_hex(3)}"
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "producer", "--bootstrap", bootstrap, "--topic", topic, "--create-topic",
             "--count", "1", "--rate", "0"],
            cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        AdminClient({"bootstrap.servers": bootstrap}).delete_topics([topic])
        starts.append(_start_line(done.stdout + done.stderr) - started)
    return round(statistics.median(starts), 3)


def _consume(bootstrap: str, events: int, process_time: float, group_args: Sequence[str]) -> str:
    """A fresh topic with `events` events and one consumer that stops after them: its log."""
    topic = f"bench-consumer-{secrets.token_hex(3)}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(timeout=60)
    common = ["--bootstrap", bootstrap, "--topic", topic]
    try:
        subprocess.run(
            [sys.executable, "-m", "producer", *common, "--count", str(events), "--rate", "0"],
            cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        consumer = subprocess.run(
            [sys.executable, "-m", "consumer", *common, "--group", topic, "--no-create-dlq-topic",
             "--process-time", f"{process_time:g}", "--max-events", str(events), *group_args],
            cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        admin.delete_topics([topic])
    return consumer.stdout + consumer.stderr


def measure_event_overhead(bootstrap: str) -> float:
    """Seconds per event on top of --process-time (median of REPEATS consumers)."""
    overheads = []
    for _ in range(REPEATS):
        log = _consume(bootstrap, EVENTS, PROCESS_TIME, [])
        match = _SUMMARY.search(log)
        if match is None:
            raise SystemExit(f"error: no summary line from the consumer:\n{log[-2000:]}")
        processed, busy = int(match.group(1)), float(match.group(2))
        overheads.append(busy / processed - PROCESS_TIME)
    return round(statistics.median(overheads), 4)


def measure_join_latency(bootstrap: str, group_args: Sequence[str]) -> list[float]:
    """Seconds from a lone member's `start` line to its first assignment, one per new group."""
    latencies = []
    for _ in range(REPEATS):
        log = _consume(bootstrap, 1, 0.0, group_args)
        assigned = _ASSIGNED.search(log)
        if assigned is None:
            raise SystemExit(f"error: no assigned line from the consumer:\n{log[-2000:]}")
        latencies.append(log_time(assigned.group(1).encode()) - _start_line(log))
    return latencies
