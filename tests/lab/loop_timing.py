"""When things happened in a recorded run of the real loop (tests/lab/keda_loop.py): the pod start
of the lab, and the replica changes, as `lagscale simulate` is compared with them."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

_START = re.compile(r"^ts=(\S+) \S+ \S+ event=start ", re.MULTILINE)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pod_start_delay(pods_dir: Path, timeline: dict[str, Any]) -> float | None:
    """Seconds from the Deployment's first 0 -> 1 to its first consumer logging `start`: the
    ReplicaSet, the scheduler, the pod backer and the process's own start. `pods_dir` holds the
    pod backer's logs of the run's namespace."""
    changes = [entry for entry in timeline["replicas"] if entry["replicas"] > 0]
    starts = [
        _epoch(match.group(1))
        for log in pods_dir.glob("*.log")
        for match in _START.finditer(log.read_text(errors="replace"))
    ]
    if not changes or not starts:
        return None
    asked = _epoch(timeline["burst_started_at"]) + changes[0]["t"]
    return round(min(starts) - asked, 2)


def replica_changes(timeline: dict[str, Any]) -> list[tuple[float, int]]:
    """(seconds after the burst, replicas) of every change the recorder saw."""
    return [(float(entry["t"]), int(entry["replicas"])) for entry in timeline["replicas"][1:]]
