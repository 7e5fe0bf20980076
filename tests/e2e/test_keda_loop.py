"""The tutorial's whole loop, for real: KEDA's operator and metrics adapter, the HPA controller of
kube-controller-manager, and a real `lagscale consume` process behind every consumer pod.

Runs inside the lab (scripts/lab: one network namespace with the broker, the control plane, KEDA,
the adapter behind the external.metrics.k8s.io APIService, and the pod backer). `make test` starts it;
outside it these tests FAIL and say how to run them (`scripts/lab run .venv/bin/pytest ...`).

The manifests are `lagscale render --profile kafka` with addresses, names and timings set, nothing
else: lagThreshold 10, 4 partitions, a burst of 400 events, processTime 0.1 s, pollingInterval 2 s,
cooldownPeriod 20 s. The replica timeline is written to build/keda-loop/ as JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keda_helpers
import pytest
from keda_cap import peak_problem
from keda_helpers import lagscale_lag_json
from kubernetes import client, config
from lab.keda_loop import KedaLoop
from lab.lab_env import LabEnv, kubectl, quantity, wait_for
from lab.loop_settings import LoopSettings

REPO = Path(__file__).resolve().parents[2]
TIMELINES = REPO / "build" / "keda-loop"
SETTINGS = LoopSettings(partitions=4, events=400, process_time=0.1, polling_interval=2, cooldown_period=20)
APISERVICE = "v1beta1.external.metrics.k8s.io"

pytestmark = pytest.mark.timeout(600)
lab = keda_helpers.lab_env  # the shared fixture, requested by name


@pytest.fixture
def loop(lab: LabEnv) -> Iterator[KedaLoop]:
    keda_loop = KedaLoop(lab, SETTINGS)
    try:
        yield keda_loop
    finally:
        keda_loop.close()


def _apiservice_available(lab: LabEnv) -> dict[str, Any]:
    api = client.ApiregistrationV1Api(_api(lab))
    service = api.read_api_service(APISERVICE)
    conditions = {c.type: c for c in service.status.conditions or []}
    return {"available": conditions.get("Available"), "spec": service.spec}


def _api(lab: LabEnv) -> client.ApiClient:
    return config.new_client_from_config(lab.kubeconfig)


def test_keda_metrics_adapter_is_registered_and_serves_external_metrics(lab: LabEnv) -> None:
    """The APIService points at a Service whose only endpoint is the lab address (not loopback),
    and kube-apiserver reports it Available: aggregation reaches KEDA's adapter."""
    found = _apiservice_available(lab)
    assert found["available"] is not None, "APIService has no Available condition"
    assert found["available"].status == "True", found["available"].message
    assert (found["spec"].service.namespace, found["spec"].service.port) == ("keda", 443)
    slices = client.DiscoveryV1Api(_api(lab)).list_namespaced_endpoint_slice(
        "keda", label_selector=f"kubernetes.io/service-name={found['spec'].service.name}"
    )
    addresses = {a for s in slices.items for e in s.endpoints or [] for a in e.addresses}
    assert addresses
    assert not any(address.startswith("127.") for address in addresses)
    discovery = client.CustomObjectsApi(_api(lab)).get_api_resources("external.metrics.k8s.io", "v1beta1")
    assert discovery.group_version == "external.metrics.k8s.io/v1beta1"


def _same_offsets(first: dict[str, Any], second: dict[str, Any]) -> bool:
    def offsets(result: dict[str, Any]) -> list[tuple[int, Any, Any]]:
        return [(p["partition"], p["committed"], p["log_end"]) for p in result["partitions"]]

    return offsets(first) == offsets(second)


def _keda_and_lagscale_on_the_same_offsets(loop: KedaLoop) -> tuple[float, dict[str, Any]] | None:
    """KEDA's metric (raw external-metrics query, as the HPA reads it) between two `lagscale lag`
    runs that saw identical offsets, so all three describe the same offsets; else None."""
    arguments = ["--config", *_definition_args(loop)]
    before = lagscale_lag_json(arguments)
    keda = quantity(loop.external_metric())
    after = lagscale_lag_json(arguments)
    return (keda, before) if _same_offsets(before, after) else None


def _external_metric_path(loop: KedaLoop) -> str:
    return (
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{loop.namespace}/{loop.metric_name()}"
        f"?labelSelector=scaledobject.keda.sh%2Fname%3D{loop.scaled_object}"
    )


def _definition_args(loop: KedaLoop) -> list[str]:
    files = {name: str(loop.definitions_dir / f"{name}.yaml") for name in ("so", "ta", "secret")}
    return [files["so"], "--trigger-auth", files["ta"], "--secret", files["secret"]]


def _hpa_reads_the_metric(loop: KedaLoop) -> Any:
    hpa = loop.read_hpa()
    conditions = {c.type: c for c in (hpa.status.conditions or [])} if hpa and hpa.status else {}
    active = conditions.get("ScalingActive")
    if active is None or active.status != "True" or not hpa.status.current_metrics:
        return None
    return hpa


def _write_timeline(timeline: dict[str, Any]) -> Path:
    TIMELINES.mkdir(parents=True, exist_ok=True)
    path = TIMELINES / f"timeline-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(timeline, indent=1) + "\n")
    (TIMELINES / "latest.json").write_text(path.read_text())
    return path


def _assert_peak(timeline: dict[str, Any], path: Path) -> None:
    """The HPA takes the Deployment to the partition count; one more only by KEDA's own cap quirk
    (tests/keda_cap.py), and then the metric the HPA read when it asked for it must explain it."""
    partitions, threshold = SETTINGS.partitions, timeline["settings"]["lag_threshold"]
    peak = max(entry["replicas"] for entry in timeline["replicas"])
    assert peak >= partitions, f"peak {peak} ({path})"
    asked = [entry for entry in timeline["hpa"] if entry["desired"] == peak and entry["average"]]
    metric = quantity(asked[0]["average"]) * asked[0]["current"] if asked else None
    problem = peak_problem(peak, partitions, threshold, metric)
    assert problem is None, f"{problem} ({path})"


def test_real_keda_and_hpa_scale_real_consumers_to_the_partition_count_and_back(loop: KedaLoop) -> None:
    loop.deploy()
    loop.start_recording()
    loop.produce_burst()
    wait_for("KEDA to activate the consumer Deployment (0 -> 1)", lambda: loop.spec_replicas() >= 1, 60)

    # Same offsets, same number: what the HPA gets from KEDA's adapter and `lagscale lag --json`.
    keda_value, ours = wait_for(
        "a moment with unchanged offsets to compare KEDA's metric with lagscale's",
        lambda: _keda_and_lagscale_on_the_same_offsets(loop),
        timeout=60,
        interval=0.2,
    )
    assert keda_value == float(ours["metric_value"]), (keda_value, ours)
    assert ours["active"] is True
    # The same query with kubectl, as a user would make it.
    raw = json.loads(kubectl(loop.lab, "get", "--raw", _external_metric_path(loop)))
    assert [item["metricName"] for item in raw["items"]] == [loop.metric_name()]

    hpa = wait_for("the HPA to read KEDA's metric (ScalingActive)", lambda: _hpa_reads_the_metric(loop), 60)
    assert hpa.spec.metrics[0].external.target.average_value == "10"  # the profile's lagThreshold
    wait_for(
        f"the HPA to scale to the partition count ({SETTINGS.partitions})",
        lambda: loop.spec_replicas() >= SETTINGS.partitions,
        timeout=120,
    )
    wait_for("the consumers to drain the lag", lambda: loop.total_lag() == 0, timeout=180, interval=1.0)
    drained = time.monotonic()
    wait_for("KEDA to scale back to 0 after the cooldown", lambda: loop.spec_replicas() == 0, timeout=180)
    back_to_zero_after = time.monotonic() - drained
    # Drained and inactive: KEDA's adapter and lagscale agree on the final offsets too.
    final = _keda_and_lagscale_on_the_same_offsets(loop)
    assert final is not None
    assert final[0] == float(final[1]["metric_value"]) == 0.0
    loop.stop_recording()

    timeline = loop.timeline()
    path = _write_timeline(timeline)
    counts = [entry["replicas"] for entry in timeline["replicas"]]
    assert counts[:2] == [0, 1], f"KEDA's activation should come first: {counts} ({path})"
    assert timeline["replicas"][1]["by"] == "keda"
    _assert_peak(timeline, path)
    assert counts[-1] == 0, f"{counts} ({path})"
    assert any(entry["by"] == "hpa" for entry in timeline["replicas"]), f"no HPA step in {counts} ({path})"
    # KEDA waits cooldownPeriod after the last active poll; the lag hit 0 at most a poll before that.
    assert back_to_zero_after >= SETTINGS.cooldown_period - SETTINGS.polling_interval - 1
    processed = loop.processed_sequences()
    missing = set(range(SETTINGS.events)) - set(processed)
    assert not missing, f"{len(missing)} events never processed, e.g. {sorted(missing)[:10]} ({path})"
    assert timeline["result"]["processed_unique"] == SETTINGS.events
