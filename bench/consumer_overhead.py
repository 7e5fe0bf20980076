"""What one event costs `python -m consumer` beyond its --process-time, when the work is real
sleeping as in the local demo (0.1 s per event, no per-event log lines): the consumer's summary
line gives the busy time over a backlog, so the overhead is busy / processed - process time."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys

from confluent_kafka.admin import AdminClient, NewTopic
from rebalance_fleet import REPO_ROOT, child_env

PROCESS_TIME = 0.1
EVENTS = 100
REPEATS = 3
_SUMMARY = re.compile(r"event=summary processed=(\d+) .* seconds=([0-9.]+)")


def measure_event_overhead(bootstrap: str) -> float:
    """Seconds per event on top of --process-time: the median of REPEATS consumers, each over a
    backlog of EVENTS events (it grows with the machine's load: sleeping overshoots)."""
    overheads = sorted(_one_consumer(bootstrap) for _ in range(REPEATS))
    return overheads[len(overheads) // 2]


def _one_consumer(bootstrap: str) -> float:
    topic = f"bench-overhead-{secrets.token_hex(3)}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
    common = ["--bootstrap", bootstrap, "--topic", topic]
    try:
        subprocess.run(
            [sys.executable, "-m", "producer", *common, "--count", str(EVENTS), "--rate", "0"],
            cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        consumer = subprocess.run(
            [sys.executable, "-m", "consumer", *common, "--group", topic, "--no-create-dlq-topic",
             "--process-time", f"{PROCESS_TIME:g}", "--max-events", str(EVENTS)],
            cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        admin.delete_topics([topic])
    match = _SUMMARY.search(consumer.stdout + consumer.stderr)
    if match is None:
        raise SystemExit(f"error: no summary line from the consumer:\n{consumer.stderr[-2000:]}")
    processed, busy = int(match.group(1)), float(match.group(2))
    return round(busy / processed - PROCESS_TIME, 4)
