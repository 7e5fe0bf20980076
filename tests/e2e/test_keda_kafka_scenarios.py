"""KEDA's own end-to-end scenarios for its Kafka scaler (kedacore/keda tests/scalers/kafka/
kafka_test.go, listed in docs/keda-e2e.md), run in the lab under the real KEDA + HPA and, at the same
time on the same offsets, under lagscale's own loop (`lagscale scale` in keda mode scaling a second
Deployment). Both must reach the replica counts KEDA's tests expect, after the metric KEDA's code
gives for each step.

All scenarios start together (each has its own namespace, topics and group) when the first test asks
for its result; each test then reports one scenario on one side. Runs inside the lab only
(`scripts/lab run .venv/bin/pytest tests/e2e/test_keda_kafka_scenarios.py`); a part that does not
start fails the test, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future

import keda_helpers
import pytest
from lab.kafka_scenarios import SCENARIOS, Scenario
from lab.lab_env import LabEnv
from lab.scenario_runner import ScenarioResult, running_scenarios

pytestmark = pytest.mark.timeout(900)
lab = keda_helpers.lab_env  # the shared fixture, requested by name
RESULT_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def scenario_results(lab: LabEnv) -> Iterator[dict[str, Future[ScenarioResult]]]:
    with running_scenarios(lab) as futures:
        yield futures


@pytest.mark.parametrize("side", ["keda", "lagscale"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_reaches_kedas_replica_counts(
    scenario: Scenario, side: str, scenario_results: dict[str, Future[ScenarioResult]]
) -> None:
    result = scenario_results[scenario.name].result(timeout=RESULT_TIMEOUT_S)
    assert not result.error, result.report(side)
    check = result.sides[side]
    assert check.passed, result.report(side)
    assert len(check.met) == len(scenario.expectations), result.report(side)
