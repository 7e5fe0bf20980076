"""`make demo DEMO=keda` (tests/lab/keda_demo.py) in the lab, shortened: the rendered producer Job
(a real `lagscale produce` behind its pod) sends the events, real KEDA + HPA scale real consumers
0 -> N -> 0, the plain view prints each replica change, and the timeline is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keda_helpers
from lab.lab_env import LabEnv

REPO = Path(__file__).resolve().parents[2]
EVENTS = 200
SHORT = [
    "--no-live", "--events", str(EVENTS), "--partitions", "2", "--process-time", "0.1",
    "--polling-interval", "2", "--cooldown-period", "10", "--timeout", "240",
]  # fmt: skip
lab = keda_helpers.lab_env  # the shared fixture, requested by name


def test_the_keda_demo_scales_real_consumers_and_back_to_zero(lab: LabEnv, tmp_path: Path) -> None:
    out = tmp_path / "demo-timeline.json"
    demo = subprocess.run(
        [sys.executable, str(REPO / "tests/lab/keda_demo.py"), *SHORT, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-4000:]
    lines = [line for line in demo.stdout.splitlines() if line.startswith("t=")]
    assert any(" poll " in line and "replicas=0->1" in line for line in lines), output
    assert any(" hpa " in line for line in lines), output
    assert lines[-1].split("replicas=")[1].split()[0].endswith("->0"), lines[-1]
    timeline = json.loads(out.read_text())
    counts = [entry["replicas"] for entry in timeline["replicas"]]
    assert counts[:2] == [0, 1]
    assert counts[-1] == 0
    assert max(counts) >= 2
    assert timeline["result"]["processed_unique"] == EVENTS
    assert f"processed {EVENTS}/{EVENTS} events" in demo.stdout
