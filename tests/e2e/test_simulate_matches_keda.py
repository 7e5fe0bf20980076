"""`lagscale simulate` against the real KEDA + HPA loop of the lab (issue 15, item 4): one run of
the loop test's load (tests/lab/keda_loop.py), and the simulation of it with the same settings: the
rendered ScaledObject itself, the lab's HPA settings, the topic and the consumers. Each replica
change must come within one pollingInterval + one HPA sync period of the real one.

Real runs differ after the peak (the HPA sometimes steps down through 2, and KEDA's cap-off-by-one
sometimes adds a fifth pod: docs/simulate.md), so this checks what every run has: the way up, the
first step down and the return to 0. The whole sequence is compared in bench/bench_keda_simulate.py.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import keda_helpers
import pytest
import yaml
from lab.keda_loop import keda_loop, run_scenario
from lab.lab_env import LabEnv, run_lagscale
from lab.loop_settings import LoopSettings
from lab.loop_timing import pod_start_delay, replica_changes, simulate_args
from lab.scenario_sides import duration_seconds

SETTINGS = LoopSettings(partitions=4, events=400, process_time=0.1, polling_interval=2, cooldown_period=20)

pytestmark = pytest.mark.timeout(300)
lab = keda_helpers.lab_env  # the shared fixture, requested by name


def _simulate(lab: LabEnv, scaled_object: dict[str, object], pod_start: float) -> list[tuple[float, int]]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scaledobject.yaml"
        path.write_text(yaml.safe_dump(scaled_object))
        output = run_lagscale(*simulate_args(lab, SETTINGS, path, pod_start))
    changes = json.loads(output)["runs"][0]["replica_changes"]
    return [(float(at), int(replicas)) for at, replicas in changes]


def _first_step_down(changes: list[tuple[float, int]]) -> float:
    peak = max(replicas for _, replicas in changes)
    after_peak = changes[[replicas for _, replicas in changes].index(peak) + 1 :]
    return after_peak[0][0]


def test_simulated_replica_changes_come_within_a_poll_and_an_hpa_sync_of_the_real_ones(lab: LabEnv) -> None:
    with keda_loop(lab, SETTINGS) as loop:
        timeline = run_scenario(loop)
        pod_start = pod_start_delay(lab.state / "pods" / loop.namespace, timeline)
        scaled_object = loop.one("ScaledObject")
    real = replica_changes(timeline)
    model = _simulate(lab, scaled_object, pod_start if pod_start is not None else 0.5)
    tolerance = SETTINGS.polling_interval + duration_seconds(lab.hpa_sync_period)
    why = f"real {real}, simulated {model}"
    # The way up: KEDA's 0 -> 1, then the HPA's 1 -> 4 (the capped metric, the scale-up limit).
    assert [replicas for _, replicas in real[:2]] == [replicas for _, replicas in model[:2]] == [1, 4], why
    for (real_at, _), (model_at, _) in zip(real[:2], model[:2], strict=True):
        assert abs(real_at - model_at) <= tolerance, why
    assert abs(_first_step_down(real) - _first_step_down(model)) <= tolerance, why
    assert real[-1][1] == model[-1][1] == 0, why
    assert abs(real[-1][0] - model[-1][0]) <= tolerance, why
