"""Is `lagscale simulate` as accurate as the real loop? The local demo's machinery (real broker, real
`python -m consumer` processes, the real scaling loop) runs each scenario several times, and the
simulation runs with the same settings (DemoSettings.scenario: one source for both). Compared:
drain time, replica-seconds and the sequence of replica counts, all summarised from the scaling
loop's decisions. A replay per real run simulates again with that run's own split of the events
over the partitions (random keys make it differ from run to run) and its consumers' own speed
(the machine's load changes it), to tell the model's error from the load's randomness.

    .venv/bin/python bench/bench_simulate.py                          # uses or starts scripts/kafka
    .venv/bin/python bench/bench_simulate.py --runs 2 --scenarios demo
    .venv/bin/python bench/bench_simulate.py --update-docs docs/simulate.md
    .venv/bin/python bench/bench_simulate.py --scenarios two-bursts --logs build/bench-simulate-logs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluation import bootstrap_address
from docs_section import update_docs
from simulate_compare import Comparison, Outcome
from simulate_report import markdown

from kafkakit.logs import configure_logging
from lagscale.demo.effects import delete_topics
from lagscale.demo.run import run_demo
from lagscale.demo.settings import DemoSettings
from lagscale.demo.state import DemoSnapshot
from lagscale.simulate.group_settings import measured
from lagscale.simulate.keys import KeySpread
from lagscale.simulate.simulation import Scenario, run
from scaler.loop.decision import Decision

REPO_ROOT = Path(__file__).resolve().parent.parent
_PROGRESS = re.compile(r"event=progress rate=([0-9.]+)/s")
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "demo": (
        "the demo's settings (`make demo`): a burst of 2400 events, then 20 events/s for 20 s",
        {},
    ),
    "steady": (
        "a steady rate: 30 events/s for 60 s, no burst",
        {"burst": 0, "rate": 30.0, "produce_seconds": 60.0},
    ),
    "two-bursts": (
        "two bursts: 1200 events, and 1200 more 55 s later",
        {"burst": 1200, "rate": 0.0, "produce_seconds": 0.0, "later_bursts": ((55.0, 1200),)},
    ),
    "short": (
        "tests/kafka/test_simulate_matches_demo.py's settings: 4 partitions, a burst of 800 events with "
        "sequence keys, pollingInterval 1 s, cooldownPeriod 5 s, stabilisation 3 s",
        {
            "partitions": 4,
            "burst": 800,
            "rate": 0.0,
            "produce_seconds": 0.0,
            "key": "sequence",
            "polling_interval": 1,
            "cooldown_period": 5,
            "hpa_downscale_stabilization": 3,
        },
    ),
    "demo-range": (
        "the demo's settings with `--group-protocol classic --assignment-strategy range` (eager)",
        {"group_protocol": "classic", "assignment_strategy": "range"},
    ),
}
COMMON = (
    "6 partitions, 0.1 s per event, random keys 0-99, lagThreshold 10, pollingInterval 2 s (also the HPA "
    "sync period), cooldownPeriod 20 s, scale-down stabilisation 10 s, the consumer protocol (KIP-848) "
    "unless said otherwise"
)


class Quiet:
    """A DemoObserver that shows nothing."""

    def started(self, topic: str, group: str) -> None: ...

    def decision(self, point: Decision) -> None: ...

    def refresh(self, snapshot: DemoSnapshot) -> None: ...

    def stopping(self, outcome: str) -> None: ...


def partition_totals(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """Events per partition: the log-end offsets (the topic started empty)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-bench"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
        ]
    finally:
        consumer.close()


def event_overhead(log_dir: Path, process_time: float) -> float | None:
    """Seconds per event beyond --process-time, from the consumers' `progress` lines (events per
    second over each 5 s): the median of the intervals near the top rate, which were busy
    throughout. How fast this machine was during the run."""
    rates = [
        float(rate) for log in log_dir.glob("replica-*.log") for rate in _PROGRESS.findall(log.read_text())
    ]
    busy = [rate for rate in rates if rate >= 0.9 * max(rates, default=0.0) and rate > 0]
    if len(busy) < 3:
        return None
    return max(0.0, round(1 / statistics.median(busy) - process_time, 4))


def real_run(settings: DemoSettings, bootstrap: str) -> tuple[Outcome, Scenario, dict[str, Any]]:
    """One run of the demo's loop; also the scenario that replays it: the same split of the
    events over the partitions, and the speed its consumers had."""
    config = settings.scaling_config()
    result = run_demo(settings, config, Quiet())
    try:
        if result.outcome != "completed":
            raise SystemExit(f"error: a real run ended {result.outcome}: {result.error or 'see its logs'}")
        totals = partition_totals(bootstrap, result.topic, settings.partitions)
    finally:
        delete_topics(AdminClient({"bootstrap.servers": bootstrap}), [result.topic, f"{result.topic}.dlq"])
    overhead = event_overhead(settings.out_dir / "logs" / result.topic, settings.process_time)
    scenario = settings.scenario(config)
    group = (
        scenario.group if overhead is None else dataclasses.replace(scenario.group, event_overhead=overhead)
    )
    keys = KeySpread("weights:" + ",".join(map(str, totals)))
    outcome = Outcome.of(result.timeline)
    record = {
        "topic": result.topic,
        "partition_totals": totals,
        "event_overhead": overhead,
        **outcome.as_dict(),
    }
    return outcome, dataclasses.replace(scenario, keys=keys, group=group), record


def compare(name: str, runs: int, bootstrap: str, workdir: Path, out: Path) -> Comparison:
    description, changes = SCENARIOS[name]
    base = DemoSettings(bootstrap=bootstrap, keep_topic=True, out_dir=workdir, duration=300.0, **changes)
    scenario = base.scenario(base.scaling_config())
    predicted = Outcome.of(run(scenario).timeline.at_decisions())
    real, replays, records, event_times = [], [], [], []
    for index in range(runs):
        settings = dataclasses.replace(base, run_id=os.urandom(3).hex())
        outcome, replay_scenario, record = real_run(settings, bootstrap)
        replay = Outcome.of(run(replay_scenario).timeline.at_decisions())
        real.append(outcome)
        replays.append(replay)
        event_times.append(replay_scenario.process_time + replay_scenario.group.event_overhead)
        records.append({**record, "replay": replay.as_dict()})
        print(f"  {name} real {index + 1}: {outcome.path} {outcome.drain} {outcome.replica_seconds}; replay "
              f"{replay.path} {replay.drain} {replay.replica_seconds}", file=sys.stderr)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(
        json.dumps({"scenario": name, "predicted": predicted.as_dict(), "runs": records}, indent=1) + "\n"
    )
    model_event_time = scenario.process_time + scenario.group.event_overhead
    return Comparison(name, description, real, predicted, replays, event_times, model_event_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="", help="PLAINTEXT host:port (default: the local broker)")
    parser.add_argument("--runs", type=int, default=5, help="real runs per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "build" / "bench-simulate", help="raw results"
    )
    parser.add_argument("--update-docs", type=Path, default=None, help="write the tables into this file")
    parser.add_argument(
        "--logs",
        type=Path,
        default=None,
        help="keep the real runs' logs (each consumer's and the producer's) in DIR/logs/<topic>/ "
        "(default: a temporary directory, deleted at the end)",
    )
    args = parser.parse_args()
    names = args.scenarios.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(
            f"error: unknown --scenarios {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    bootstrap = bootstrap_address(args.bootstrap)
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="bench-simulate-") as scratch,
        (Path(scratch) / "loop.log").open("w") as log,
    ):
        configure_logging(stream=log)
        logging.getLogger().setLevel(logging.WARNING)
        workdir = args.logs or Path(scratch)
        comparisons = [compare(name, args.runs, bootstrap, workdir, args.out) for name in names]
    model = measured()
    header = [
        "## Real runs against `lagscale simulate`",
        "",
        f"Command: `.venv/bin/python bench/bench_simulate.py --runs {args.runs} --scenarios {args.scenarios} "
        "--update-docs docs/simulate.md` (raw results in build/bench-simulate/).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, local "
        f"Kafka 4.1 broker; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other "
        f"work shares the machine); {datetime.now(UTC):%Y-%m-%d}. Model timings: "
        f"lagscale/simulate/measured.json ({model.get('measured_at', 'provisional')}). "
        f"Unless a scenario says otherwise: {COMMON}.",
        "",
        "Drain: from the poll that saw the most lag to the first that saw none. Replica-seconds: replicas "
        "asked for, over time, until back at 0. Both from the scaling loop's decisions (every 2 s), for "
        "the real runs and the simulation alike.",
    ]
    section = markdown(comparisons, header)
    print(section)
    if args.update_docs:
        update_docs(args.update_docs, "bench_simulate", section)


if __name__ == "__main__":
    main()
