"""`make demo DEMO=keda`: the tutorial's loop with real KEDA and no cluster. Inside the lab, the
rendered `kafka` profile is applied with its producer Job; real processes back the producer and
consumer pods; KEDA's operator activates the Deployment, the HPA controller (through KEDA's metrics
adapter) takes it to N, the consumers drain the lag, and KEDA scales back to 0 after the cooldown.

The screen is the local demo's live view (lagscale's `render_snapshot`), fed from what the cluster
reports, plus the pods and their processes. Ends when the Deployment is back at 0 after the load,
writing the replica timeline as JSON.

    scripts/lab run .venv/bin/python tests/lab/keda_demo.py [--no-live] [--events N] ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

# Runs as a script: `lab` (and the project, from the virtualenv) must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.keda_loop import KedaLoop, keda_loop
from lab.lab_env import REPO, LabEnv, LabError, quantity
from lab.loop_settings import LoopSettings
from lagscale.demo.state import DemoSnapshot
from lagscale.demo.view import decision_line, render_snapshot
from scaler.loop.decision import Decision

DEMO_SETTINGS = LoopSettings(
    partitions=6, events=600, process_time=0.5, polling_interval=5, cooldown_period=30, producer_job=True
)
REASONS = {
    "up_from_zero": "KEDA: trigger active, activates the Deployment",
    "to_zero": "KEDA: inactive for cooldownPeriod, back to minReplicaCount 0",
    "hpa_up": "HPA: ceil(metric / lagThreshold), at most max(2 x current, 4) per sync",
    "hpa_down": "HPA: the highest recommendation of its stabilization window went down",
}


class ClusterView:
    """Turns what the lab reports into the local demo's snapshot (and the pods into a table)."""

    def __init__(self, loop: KedaLoop) -> None:
        self.loop = loop
        self.started = time.monotonic()
        self.decisions: list[Decision] = []
        self.seen_changes = 0
        self.max_seen = 0

    def snapshot(self) -> DemoSnapshot:
        loop = self.loop
        lags = loop.partition_lags()
        metric = _or_none(lambda: quantity(loop.external_metric()))
        hpa = loop.read_hpa()
        deployment = loop.apps.read_namespaced_deployment(loop.deployment, loop.namespace)
        current = deployment.spec.replicas or 0
        self.max_seen = max(self.max_seen, current)
        active = self._scaled_object_active()
        self._record_changes(active, metric, sum(lags))
        desired = hpa.status.desired_replicas if hpa and hpa.status and current else current
        return DemoSnapshot(
            elapsed=time.monotonic() - self.started,
            partitions=loop.settings.partitions,
            lag_threshold=int(loop.one("ScaledObject")["spec"]["triggers"][0]["metadata"]["lagThreshold"]),
            partition_lags=tuple(lags),
            total_lag=sum(lags),
            metric=metric,
            active=active,
            desired=desired or 0,
            current=current,
            members=deployment.status.ready_replicas or 0,
            max_replicas_seen=self.max_seen,
            producer_done=loop.producer_job_done(),
            recent=tuple(self.decisions[-8:]),
        )

    def _scaled_object_active(self) -> bool:
        scaled_object = self.loop.custom.get_namespaced_custom_object(
            "keda.sh", "v1alpha1", self.loop.namespace, "scaledobjects", self.loop.scaled_object
        )
        conditions = scaled_object.get("status", {}).get("conditions", [])
        return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)

    def _record_changes(self, active: bool, metric: float | None, lag: int) -> None:
        recorder = self.loop.recorder
        changes = recorder.replicas if recorder else []
        for index in range(max(self.seen_changes, 1), len(changes)):
            before, after = changes[index - 1]["replicas"], changes[index]["replicas"]
            if changes[index]["by"] == "hpa":
                kind = "hpa_up" if after > before else "hpa_down"
            else:
                kind = "up_from_zero" if before == 0 else "to_zero"
            self.decisions.append(
                Decision(
                    time=changes[index]["t"],
                    mode="keda",
                    path="hpa" if kind.startswith("hpa") else "poll",
                    active=active,
                    metric=metric,
                    total_lag=lag,
                    current=before,
                    desired=after,
                    reason=REASONS[kind],
                )
            )
        self.seen_changes = max(self.seen_changes, len(changes))

    def pods_table(self) -> Table:
        table = Table(title="consumer and producer pods (each a real process)", title_justify="left")
        for column in ("pod", "phase", "ready", "pid", "port"):
            table.add_column(column)
        index_file = self.loop.lab.state / "pods.json"
        processes = {e["name"]: e for e in json.loads(index_file.read_text())} if index_file.exists() else {}
        for pod in self.loop.core.list_namespaced_pod(self.loop.namespace).items:
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            process = processes.get(pod.metadata.name, {})
            ports = ",".join(str(port) for port in process.get("ports", {}).values())
            pid = str(process.get("pid", "-"))
            phase = "Terminating" if pod.metadata.deletion_timestamp else pod.status.phase
            table.add_row(pod.metadata.name, phase, "yes" if ready else "no", pid, ports or "-")
        return table


def _or_none(read: Any) -> Any:
    try:
        return read()
    except Exception:  # the metric is not there before KEDA's first poll
        return None


def finished(view: ClusterView, snapshot: DemoSnapshot) -> bool:
    # The recorder's changes may trail this Deployment read: the view ends on its way back to 0 too.
    recorded_zero = bool(view.decisions) and view.decisions[-1].desired == 0
    return snapshot.producer_done and view.max_seen > 0 and snapshot.current == 0 and recorded_zero


def run(loop: KedaLoop, live: bool, timeout: float) -> None:
    view = ClusterView(loop)
    title = f"real KEDA + HPA, namespace {loop.namespace}, topic {loop.topic}"
    deadline = time.monotonic() + timeout
    if live:
        with Live(console=Console(), refresh_per_second=2) as screen:
            while time.monotonic() < deadline:
                snapshot = view.snapshot()
                screen.update(Group(render_snapshot(title, snapshot), view.pods_table()))
                if finished(view, snapshot):
                    return
                time.sleep(0.5)
    else:
        printed = 0
        while time.monotonic() < deadline:
            snapshot = view.snapshot()
            for point in view.decisions[printed:]:
                print(decision_line(point), flush=True)
            printed = len(view.decisions)
            if finished(view, snapshot):
                return
            time.sleep(0.5)
    raise LabError(f"the loop did not come back to 0 within {timeout:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The tutorial's loop with real KEDA, in the lab.")
    parser.add_argument("--no-live", action="store_true", help="one line per replica change")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "keda-loop" / "demo-timeline.json")
    for name, value in asdict(DEMO_SETTINGS).items():
        if not isinstance(value, bool):
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    options = parser.parse_args(argv)
    settings = LoopSettings(
        **{name: getattr(options, name, value) for name, value in asdict(DEMO_SETTINGS).items()}
    )
    try:
        with keda_loop(LabEnv.from_environ(), settings) as loop:
            print(f"deploying the rendered kafka profile into {loop.namespace} ...", flush=True)
            loop.deploy()
            loop.start_recording()
            loop.start_producer_job()
            run(loop, live=not options.no_live and sys.stdout.isatty(), timeout=options.timeout)
            loop.stop_recording()
            timeline = loop.timeline()
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped (Ctrl+C); the lab goes down now", file=sys.stderr)
        return 130
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(timeline, indent=1) + "\n")
    counts = " -> ".join(str(entry["replicas"]) for entry in timeline["replicas"])
    result = timeline["result"]
    print(f"replicas {counts}; processed {result['processed_unique']}/{result['produced']} events")
    print(f"timeline: {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
