"""Run KEDA's Kafka e2e scenarios (lab/kafka_scenarios.py) in the lab: each on its own topics, group
and namespace, under the real KEDA + HPA and under `lagscale scale` at the same time, on the same
offsets. Every scenario's result says, per side, whether each expected replica count came, with the
replica timeline; `run_scenarios` runs them all in parallel.

By hand, inside a lab:

    scripts/lab run .venv/bin/python tests/lab/scenario_runner.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

# Also runs as a script (python tests/lab/scenario_runner.py): tests/ must be importable then too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_helpers import Kube, make_deployment

from lab.kafka_scenarios import SCENARIOS, Expect, Scenario
from lab.lab_env import REPO, LabEnv, LabError
from lab.scenario_checks import SideCheck, Timeline, check_expectation
from lab.scenario_offsets import ScenarioOffsets
from lab.scenario_sides import KedaGauges, KedaSide, LagscaleSide, duration_seconds

POLLING_INTERVAL = 2
RESULTS = REPO / "build" / "keda-scenarios"
# KEDA's tests: no stabilization, +-100 % per 15 s, both ways.
_POLICY = {
    "stabilizationWindowSeconds": 0,
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


@dataclass
class ScenarioResult:
    scenario: str
    sides: dict[str, SideCheck] = field(default_factory=dict)
    source: str = ""  # KEDA's test function, or that the counts come from KEDA's code
    error: str = ""  # a part that did not start or a step that failed for both sides
    seconds: float = 0.0

    def report(self, side: str) -> str:
        """What a failing test shows: the failure, the timeline, lagscale's last decisions."""
        if self.error:
            return f"scenario {self.scenario}: {self.error}"
        return self.sides[side].report(f"{self.scenario} ({self.source})")


def scenario_objects(
    scenario: Scenario, namespace: str, topics: list[str], group: str, bootstrap: str
) -> dict[str, Any]:
    """The ScaledObject of KEDA's tests for this scenario (its Deployment is `consumer`)."""
    metadata = {"bootstrapServers": bootstrap, "consumerGroup": group, **scenario.metadata}
    if scenario.topic_in_trigger:
        metadata["topic"] = topics[0]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "consumer", "namespace": namespace},
        "spec": {
            "pollingInterval": POLLING_INTERVAL,
            "cooldownPeriod": 0,
            "scaleTargetRef": {"name": "consumer"},
            "advanced": {
                "horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": _POLICY, "scaleDown": _POLICY}}
            },
            "triggers": [{"type": "kafka", "metadata": metadata}],
        },
    }


class ScenarioRun:
    """One scenario: topics, group, namespace, two Deployments, KEDA's ScaledObject, lagscale."""

    def __init__(self, lab: LabEnv, scenario: Scenario, gauges: KedaGauges, hold_seconds: float) -> None:
        self.lab, self.scenario, self.hold_seconds = lab, scenario, hold_seconds
        suffix = secrets.token_hex(3)
        self.namespace = f"kafka-{scenario.name[:40]}-{suffix}"
        self.topics = [f"{self.namespace}-{index}" for index in range(len(scenario.partitions))]
        self.group = f"{self.namespace}-group"
        # KWOK stand-in pods (not a backed image): the scenarios move the offsets themselves.
        self.kube = Kube(lab.kubeconfig, config.new_client_from_config(lab.kubeconfig), managed=False)
        self.core, self.apps = self.kube.core, self.kube.apps
        self.custom = client.CustomObjectsApi(self.kube.api_client)
        self.offsets = ScenarioOffsets(lab.bootstrap, self.topics, scenario.partitions, self.group)
        self.directory = Path(tempfile.mkdtemp(prefix=f"scenario-{scenario.name}-"))
        self.keda = KedaSide(gauges, self.namespace, "consumer", "consumer")
        self.lagscale = LagscaleSide(
            lab, self.directory / "scaledobject.yaml", self.namespace, "consumer-lagscale"
        )
        self.timeline = Timeline()

    def set_up(self) -> None:
        """Each part that fails raises LabError naming it."""
        self.offsets.create()
        for action in self.scenario.before:
            self.offsets.act(action)
        _part(
            "creating the namespace",
            lambda: self.core.create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace))
            ),
        )
        for name in (self.keda.deployment, self.lagscale.deployment):
            _part(
                f"creating Deployment {name}",
                lambda n=name: make_deployment(self.kube, self.namespace, n),
            )
        scaled_object = scenario_objects(
            self.scenario, self.namespace, self.topics, self.group, self.lab.bootstrap
        )
        (self.directory / "scaledobject.yaml").write_text(yaml.safe_dump(scaled_object))
        _part(
            "applying the ScaledObject (KEDA's CRDs)",
            lambda: self.custom.create_namespaced_custom_object(
                "keda.sh", "v1alpha1", self.namespace, "scaledobjects", scaled_object
            ),
        )
        self.lagscale.start()

    def run(self) -> ScenarioResult:
        started = time.monotonic()
        source = f"kafka_test.go {self.scenario.keda_test}" if self.scenario.keda_test else "KEDA's code"
        result = ScenarioResult(self.scenario.name, source=source)
        checks = {side.name: SideCheck(side) for side in (self.keda, self.lagscale)}
        result.sides = checks
        try:
            self.set_up()
            for step in self.scenario.steps:
                if isinstance(step, Expect):
                    check_expectation(step, list(checks.values()), self._sample, self.hold_seconds)
                else:
                    self.offsets.act(step)
        except LabError as error:
            result.error = str(error)
        except Exception:  # a client failing mid-scenario: reported with the scenario, not lost
            result.error = "failed:\n" + traceback.format_exc(limit=-4)
        finally:
            for check in checks.values():
                check.timeline = self.timeline.of(check.side.name)
            checks["lagscale"].log_tail = self.lagscale.log_tail(25)
            self.tear_down()
            result.seconds = round(time.monotonic() - started, 1)
        return result

    def _sample(self) -> dict[str, tuple[int, int]]:
        """Spec and ready replicas of both Deployments, also kept in the timeline."""
        listed = self.apps.list_namespaced_deployment(self.namespace).items
        by_name = {d.metadata.name: (d.spec.replicas or 0, d.status.ready_replicas or 0) for d in listed}
        sides = {self.keda.name: self.keda.deployment, self.lagscale.name: self.lagscale.deployment}
        sample = {side: by_name.get(deployment, (0, 0)) for side, deployment in sides.items()}
        self.timeline.record(sample)
        return sample

    def tear_down(self) -> None:
        self.lagscale.stop()
        try:
            self.core.delete_namespace(self.namespace)
        except client.ApiException as error:
            if error.status != 404:
                raise
        self.offsets.delete()


def _part(what: str, action: Any) -> Any:
    try:
        return action()
    except Exception as error:  # any failure to start a part fails the scenario, naming the part
        raise LabError(f"{what} failed: {error}") from error


def hold_seconds(lab: LabEnv) -> float:
    """Long enough for a poll and an HPA sync after the scaler saw the new offsets."""
    return duration_seconds(lab.hpa_sync_period) + 2 * POLLING_INTERVAL + 1


@contextmanager
def running_scenarios(
    lab: LabEnv, scenarios: tuple[Scenario, ...] = SCENARIOS
) -> Iterator[dict[str, Future[ScenarioResult]]]:
    """Start every scenario at once (they share nothing); each future gives its result."""
    gauges = KedaGauges()
    pool = ThreadPoolExecutor(max_workers=len(scenarios), thread_name_prefix="scenario")
    try:
        yield {
            s.name: pool.submit(_run_and_write, ScenarioRun(lab, s, gauges, hold_seconds(lab)))
            for s in scenarios
        }
    finally:
        pool.shutdown(wait=True)


def _run_and_write(run: ScenarioRun) -> ScenarioResult:
    result = run.run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{result.scenario}.json").write_text(json.dumps(_as_json(result), indent=1) + "\n")
    return result


def _as_json(result: ScenarioResult) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "seconds": result.seconds,
        "error": result.error,
        "sides": {name: check.as_json() for name, check in result.sides.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="KEDA's Kafka e2e scenarios under real KEDA and lagscale.")
    parser.add_argument("--only", action="append", choices=[s.name for s in SCENARIOS], help="run only these")
    options = parser.parse_args(argv)
    chosen = tuple(s for s in SCENARIOS if not options.only or s.name in options.only)
    failed = 0
    with running_scenarios(LabEnv.from_environ(), chosen) as futures:
        for name, future in futures.items():
            result = future.result()
            for side in ("keda", "lagscale"):
                passed = not result.error and result.sides[side].passed
                failed += not passed
                print(f"{name:55} {side:9} {'ok' if passed else 'FAILED'} ({result.seconds}s)")
                if not passed:
                    print(result.report(side))
    print(f"results in {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
