"""`lagscale simulate` against the real KEDA + HPA loop of the lab: real KEDA operator and metrics
adapter, the HPA controller of kube-controller-manager and real consumer processes behind the pods
(tests/lab/keda_loop.py, the load and settings of tests/e2e/test_keda_loop.py), and the
simulation of the same load with the same settings: the rendered ScaledObject itself (`--config`),
the lab's HPA controller settings, the partitions, the work per event and the producer's keys.
Both replica timelines go side by side into a table (the time of every change) and one plot.

Runs inside the lab (it starts one, runs, and stops it):

    scripts/lab run .venv/bin/python bench/bench_keda_simulate.py --runs 3 \\
        --update-docs docs/simulate.md --plot docs/img/simulate-keda-loop.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_section import update_docs
from keda_loop_report import markdown, plot
from lab.keda_loop import keda_loop, run_scenario
from lab.lab_env import LabEnv
from lab.loop_settings import LoopSettings
from lab.loop_timing import pod_start_delay, simulate_args
from lab.scenario_sides import duration_seconds

REPO_ROOT = Path(__file__).resolve().parent.parent
# The load and settings of tests/e2e/test_keda_loop.py.
SETTINGS = LoopSettings(partitions=4, events=400, process_time=0.1, polling_interval=2, cooldown_period=20)


def real_run(lab: LabEnv) -> dict[str, Any]:
    with keda_loop(lab, SETTINGS) as loop:
        timeline = run_scenario(loop)
        timeline["scaled_object"] = loop.one("ScaledObject")
        timeline["pod_start_delay"] = pod_start_delay(lab.state / "pods" / loop.namespace, timeline)
    return timeline


def simulate(lab: LabEnv, scaled_object: dict[str, Any], pod_start: float) -> dict[str, Any]:
    """`lagscale simulate` as a user runs it (lab.loop_timing.simulate_args)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scaledobject.yaml"
        path.write_text(yaml.safe_dump(scaled_object))
        argv = [sys.executable, "-m", "lagscale", *simulate_args(lab, SETTINGS, path, pod_start)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    result: dict[str, Any] = json.loads(done.stdout)
    result["argv"] = ["lagscale", *(a if a != str(path) else "<the rendered ScaledObject>" for a in argv[3:])]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="real runs")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench-keda-simulate")
    parser.add_argument("--update-docs", type=Path, default=None, help="write the table into this file")
    parser.add_argument("--plot", type=Path, default=None, help="write the replica timelines here (PNG)")
    args = parser.parse_args()
    lab = LabEnv.from_environ()
    load_before = os.getloadavg()[0]
    runs = []
    for index in range(args.runs):
        runs.append(real_run(lab))
        changes = " ".join(f"{c['replicas']}@{c['t']}" for c in runs[-1]["replicas"])
        print(f"  real {index + 1}: {changes}", file=sys.stderr)
    starts = [run["pod_start_delay"] for run in runs if run["pod_start_delay"] is not None]
    pod_start = round(statistics.median(starts), 2) if starts else 1.0
    simulated = simulate(lab, runs[0]["scaled_object"], pod_start)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "runs.json").write_text(json.dumps({"real": runs, "simulated": simulated}, indent=1) + "\n")
    context = {
        "command": "scripts/lab run .venv/bin/python bench/bench_keda_simulate.py --runs "
        f"{args.runs} --update-docs docs/simulate.md --plot docs/img/simulate-keda-loop.png",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load "
        f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; {datetime.now(UTC):%Y-%m-%d}",
        "pod_starts": starts,
        "pod_start": pod_start,
        "settings": SETTINGS,
        "hpa_sync_period": duration_seconds(lab.hpa_sync_period),
        "stabilization": duration_seconds(lab.hpa_downscale_stabilization),
    }
    section = markdown(runs, simulated, context)
    print(section)
    if args.plot:
        plot(runs, simulated, args.plot)
    if args.update_docs:
        update_docs(args.update_docs, "bench_keda_simulate", section)


if __name__ == "__main__":
    main()
