"""When things happened in a recorded run of the real loop (tests/lab/keda_loop.py): the pod start
of the lab, and the replica changes, as `lagscale simulate` is compared with them; and the
simulation of such a run."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lagscale.simulate.group_settings import measured_producer_start

if TYPE_CHECKING:
    from lab.lab_env import LabEnv
    from lab.loop_settings import LoopSettings

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
    # The recorder sees the change at its next look at the Deployment, so a fast pod can log
    # `start` before that: no measurable delay then.
    return max(0.0, round(min(starts) - asked, 2))


def replica_changes(timeline: dict[str, Any]) -> list[tuple[float, int]]:
    """(seconds after the burst, replicas) of every change the recorder saw."""
    return [(float(entry["t"]), int(entry["replicas"])) for entry in timeline["replicas"][1:]]


def simulate_args(lab: LabEnv, settings: LoopSettings, config: Path, pod_start: float) -> list[str]:
    """`lagscale simulate` for a run of the loop as a user writes it: the rendered ScaledObject
    (`config`), the lab's HPA controller settings as kube-controller-manager has them, the topic and
    the consumers. The burst is `lagscale produce --key sequence` started at t=0: its events land
    once that process has started (the measured producer start)."""
    return [
        *("simulate", "--config", str(config), "--partitions", str(settings.partitions)),
        *("--process-time", f"{settings.process_time:g}", "--keys", "sequence"),
        *("--load", f"burst:{settings.events}@{measured_producer_start():g}"),
        *("--hpa-sync-period", lab.hpa_sync_period),
        *("--hpa-downscale-stabilization", lab.hpa_downscale_stabilization, "--hpa-tolerance", "0.1"),
        *("--pod-start-delay", f"{pod_start:g}", "--duration", "150", "--json"),
    ]
