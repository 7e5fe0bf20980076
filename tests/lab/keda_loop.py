"""Drive one load through the real loop (KEDA operator + metrics adapter + the HPA controller + real
consumer processes) and record what happened: every replica change, ready replicas, the HPA's view
and the total lag, with the settings, as one JSON timeline.

Runs inside the lab (scripts/lab), which exports what it needs (lab.env). Used by
tests/e2e/test_keda_loop.py, by `make demo DEMO=keda`, and from a bench script:

    scripts/lab run .venv/bin/python tests/lab/keda_loop.py --out build/keda-loop/timeline.json

The manifests are the `kafka` profile from `lagscale render --profile kafka`; the only values set are
addresses, credentials, names and timings (LoopSettings.render_values).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kubernetes import client, config

# Also runs as a script (python tests/lab/keda_loop.py): `lab` must be importable then too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lab.lab_env import (
    LabEnv,
    LabError,
    kubectl,
    produce_events,
    render_kafka_profile,
    run_lagscale,
    wait_for,
)
from lab.loop_recorder import Recorder
from lab.loop_settings import LoopSettings

TIMELINE_KIND = "lagscale.keda-loop-timeline/v1"


class KedaLoop:
    """One namespace, topic and group with the rendered `kafka` profile applied in the lab."""

    def __init__(self, lab: LabEnv, settings: LoopSettings, namespace: str | None = None) -> None:
        self.lab = lab
        self.settings = settings
        suffix = secrets.token_hex(3)
        self.namespace = namespace or f"keda-loop-{suffix}"
        self.owns_namespace = namespace is None
        self.topic = f"keda-loop-{suffix}"
        self.group = f"keda-loop-{suffix}-group"
        api = config.new_client_from_config(lab.kubeconfig)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.objects: list[dict[str, Any]] = []
        self.deployment = ""
        self.scaled_object = ""
        self.recorder: Recorder | None = None
        self.burst_started_at = ""
        self.producer_seconds: float | None = None
        self.definitions_dir = Path(tempfile.mkdtemp(prefix="keda-loop-"))
        self._lag_consumer: Consumer | None = None

    # ------------------------------------------------------------------ setup

    def deploy(self) -> None:
        """Topic, namespace and the rendered manifests; returns once KEDA made its HPA and the
        Deployment sits at 0."""
        admin = AdminClient({"bootstrap.servers": self.lab.bootstrap})
        new_topic = NewTopic(self.topic, num_partitions=self.settings.partitions, replication_factor=1)
        admin.create_topics([new_topic])[self.topic].result(timeout=30)
        if self.owns_namespace:
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace)))
        self.objects = render_kafka_profile(
            self.settings.render_values(self.namespace, self.topic, self.group, self.lab)
        )
        kinds = {doc["kind"] for doc in self.objects}
        if not {"Deployment", "ScaledObject", "Secret", "TriggerAuthentication"} <= kinds:
            raise LabError(f"the rendered kafka profile lacks objects the loop needs (got {sorted(kinds)})")
        # The producer Job, if rendered, starts the load: start_producer_job() applies it later.
        loop_objects = [doc for doc in self.objects if doc["kind"] != "Job"]
        kubectl(self.lab, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(loop_objects))
        scaled_object = self.one("ScaledObject")
        self.scaled_object = scaled_object["metadata"]["name"]
        self.deployment = scaled_object["spec"]["scaleTargetRef"]["name"]
        for key, kind in {"so": "ScaledObject", "ta": "TriggerAuthentication", "secret": "Secret"}.items():
            path = self.definitions_dir / f"{key}.yaml"
            path.write_text(yaml.safe_dump(self.one(kind)))
            path.chmod(0o600)
        wait_for("KEDA to create its HPA", self.read_hpa, timeout=60)
        wait_for("the consumer Deployment to sit at 0 replicas", lambda: self.spec_replicas() == 0, 60)

    def one(self, kind: str) -> dict[str, Any]:
        """The rendered object of `kind` (the kafka profile renders one of each the loop uses)."""
        (found,) = [doc for doc in self.objects if doc["kind"] == kind]
        return found

    # ------------------------------------------------------------------ reading the loop

    def spec_replicas(self) -> int:
        return self.apps.read_namespaced_deployment_scale(self.deployment, self.namespace).spec.replicas or 0

    def read_hpa(self) -> Any:
        try:
            return self.autoscaling.read_namespaced_horizontal_pod_autoscaler(
                f"keda-hpa-{self.scaled_object}", self.namespace
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def metric_name(self) -> str:
        hpa = wait_for("KEDA's HPA", self.read_hpa, timeout=30)
        name: str = hpa.spec.metrics[0].external.metric.name
        return name

    def external_metric(self) -> str:
        """The value the HPA controller gets: GET /apis/external.metrics.k8s.io/v1beta1/namespaces/
        <ns>/<metric>?labelSelector=scaledobject.keda.sh/name=<so>, served by KEDA's adapter."""
        listed = self.custom.list_namespaced_custom_object(
            "external.metrics.k8s.io",
            "v1beta1",
            self.namespace,
            self.metric_name(),
            label_selector=f"scaledobject.keda.sh/name={self.scaled_object}",
        )
        items = listed["items"]
        if len(items) != 1:
            raise LabError(f"the external metrics API returned {len(items)} items: {listed}")
        value: str = items[0]["value"]
        return value

    def lagscale_lag(self) -> dict[str, Any]:
        """`lagscale lag --config <the rendered ScaledObject> ... --json`: lagscale's view."""
        so, ta, secret = (str(self.definitions_dir / f"{name}.yaml") for name in ("so", "ta", "secret"))
        output = run_lagscale("lag", "--json", "--config", so, "--trigger-auth", ta, "--secret", secret)
        result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return result

    def partition_lags(self) -> tuple[int, ...]:
        """Committed-to-end distance per partition (a never-committed partition counts whole)."""
        if self._lag_consumer is None:
            self._lag_consumer = Consumer(
                {"bootstrap.servers": self.lab.bootstrap, "group.id": self.group, "enable.auto.commit": False}
            )
        partitions = [TopicPartition(self.topic, p) for p in range(self.settings.partitions)]
        lags = []
        for tp in self._lag_consumer.committed(partitions, timeout=10):
            low, high = self._lag_consumer.get_watermark_offsets(tp, timeout=10)
            lags.append(high - (tp.offset if tp.offset >= 0 else low))
        return tuple(lags)

    def total_lag(self) -> int:
        return sum(self.partition_lags())

    def processed_sequences(self) -> Counter[int]:
        """Sequence numbers the consumer processes logged (`event=processed sequence=N`, logged with
        LAGSCALE_VERBOSE=1, which scripts/lab gives every backed pod)."""
        seen: Counter[int] = Counter()
        for log in (self.lab.state / "pods" / self.namespace).glob("*.log"):
            for match in re.finditer(r"event=processed sequence=(\d+)", log.read_text(errors="replace")):
                seen[int(match.group(1))] += 1
        return seen

    # ------------------------------------------------------------------ the load

    def start_recording(self) -> None:
        self.recorder = Recorder(
            lambda: self.apps.read_namespaced_deployment(self.deployment, self.namespace),
            self.read_hpa,
            self.total_lag,
        )
        self.recorder.start()

    def produce_burst(self) -> None:
        """`lagscale produce --count N --rate 0`: every event at once, sequence numbers 0..N-1."""
        self.burst_started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        start = time.monotonic()
        produce_events(self.lab.bootstrap, self.topic, self.settings.events)
        self.producer_seconds = round(time.monotonic() - start, 2)

    def start_producer_job(self) -> None:
        """Apply the rendered producer Job: the pod backer runs its `lagscale produce`."""
        self.burst_started_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        kubectl(self.lab, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(self.one("Job")))

    def producer_job_done(self) -> bool:
        job = client.BatchV1Api(self.apps.api_client).read_namespaced_job_status(
            self.one("Job")["metadata"]["name"], self.namespace
        )
        return bool(job.status.succeeded)

    def stop_recording(self) -> None:
        if self.recorder is not None and self.recorder.is_alive():
            self.recorder.stop()

    def timeline(self) -> dict[str, Any]:
        recorder = self.recorder
        if recorder is None:
            raise LabError("nothing recorded: start_recording() was never called")
        processed = self.processed_sequences()
        scaled_object = self.one("ScaledObject")["spec"]
        trigger = scaled_object["triggers"][0]["metadata"]
        return {
            "kind": TIMELINE_KIND,
            "settings": {
                **asdict(self.settings),
                "lag_threshold": int(trigger["lagThreshold"]),
                "activation_lag_threshold": int(trigger["activationLagThreshold"]),
                "offset_reset_policy": trigger["offsetResetPolicy"],
                "min_replica_count": scaled_object.get("minReplicaCount", 0),
                "max_replica_count": scaled_object.get("maxReplicaCount", 100),
                "producer": (
                    f"the rendered producer Job (rate {self.settings.producer_rate})"
                    if self.settings.producer_job
                    else "lagscale produce --rate 0 --key sequence"
                ),
            },
            "lab": {
                "hpa_sync_period": self.lab.hpa_sync_period,
                "hpa_downscale_stabilization": self.lab.hpa_downscale_stabilization,
                "hpa_tolerance": 0.1,
                "kubernetes": os.environ.get("LAGSCALE_K8S_VERSION", ""),
                "keda": os.environ.get("KEDA_VERSION", "2.20.2"),
            },
            "burst_started_at": self.burst_started_at,
            "producer_seconds": self.producer_seconds,
            "replicas": recorder.replicas,
            "ready_replicas": recorder.ready,
            "hpa": recorder.hpa,
            "lag": recorder.lag,
            "result": {
                "peak_replicas": max((entry["replicas"] for entry in recorder.replicas), default=0),
                "produced": self.settings.events,
                "processed_unique": len(set(processed) & set(range(self.settings.events))),
                "processed_total": sum(processed.values()),
            },
        }

    def close(self) -> None:
        self.stop_recording()
        if self._lag_consumer is not None:
            self._lag_consumer.close()
        if self.owns_namespace:
            try:
                self.core.delete_namespace(self.namespace)
            except client.ApiException as error:
                if error.status != 404:
                    raise
        AdminClient({"bootstrap.servers": self.lab.bootstrap}).delete_topics([self.topic])


@contextmanager
def keda_loop(lab: LabEnv, settings: LoopSettings, namespace: str | None = None) -> Iterator[KedaLoop]:
    loop = KedaLoop(lab, settings, namespace)
    try:
        yield loop
    finally:
        loop.close()


def run_scenario(loop: KedaLoop, timeout: float = 300.0) -> dict[str, Any]:
    """Deploy, burst, and wait for the whole loop: 0 -> ... -> peak, lag 0, back to 0."""
    loop.deploy()
    loop.start_recording()
    loop.produce_burst()
    wait_for("KEDA to activate the Deployment (0 -> 1)", lambda: loop.spec_replicas() >= 1, timeout=60)
    wait_for("the lag to drain to 0", lambda: loop.total_lag() == 0, timeout=timeout, interval=1.0)
    wait_for("the Deployment to go back to 0", lambda: loop.spec_replicas() == 0, timeout, interval=0.5)
    loop.stop_recording()
    return loop.timeline()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One burst through the real KEDA loop; writes its timeline.")
    parser.add_argument("--out", type=Path, required=True, help="timeline JSON file to write")
    defaults = LoopSettings()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    options = parser.parse_args(argv)
    settings = LoopSettings(**{name: getattr(options, name) for name in asdict(defaults)})
    try:
        with keda_loop(LabEnv.from_environ(), settings) as loop:
            timeline = run_scenario(loop)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(timeline, indent=1) + "\n")
    changes = " -> ".join(str(entry["replicas"]) for entry in timeline["replicas"])
    print(f"replicas {changes}; timeline written to {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
