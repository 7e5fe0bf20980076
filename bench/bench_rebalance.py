"""What each consumer-group protocol costs when the consumer is scaled: pauses, moves, duplicates.

Real broker, one topic of 12 partitions, a producer at a steady rate above what six members can
process (every member always has work, as when an autoscaler adds consumers because of lag).
Members are whole `python -m consumer --verbose` processes. For each protocol/assignor the group
is scaled 1 -> 2 -> 4 -> 6 -> 3 -> 1 with graceful stops (SIGTERM: finish, commit, leave), then
started at 6 and scaled 6 -> 3 -> 1 with crashes (SIGKILL). Before each step the group has been
stable for the settle time. The costs per step are defined in rebalance_metrics.py; the eager
classic range assignor (librdkafka's default) is the anchor, measured in the same run.

    .venv/bin/python bench/bench_rebalance.py                       # uses or starts scripts/kafka
    .venv/bin/python bench/bench_rebalance.py --configs range,consumer --modes graceful
    .venv/bin/python bench/bench_rebalance.py --update-docs docs/benchmarks.md \
        --update-model lagscale/simulate/measured.json

The same logs give the timings `lagscale simulate` models a group with (rebalance_params.py);
--update-model writes them, with a lone consumer's join latency and cost per event
(consumer_timings.py), into the simulator's defaults.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluation import bootstrap_address
from docs_section import update_docs
from rebalance_fleet import REPO_ROOT, Fleet, child_env
from rebalance_metrics import StepCost, StepWindow, duplicate_times, step_cost
from rebalance_params import Observations, observe
from rebalance_report import Setup, markdown
from simulator_model import write_model

PARTITIONS = 12
GRACEFUL_COUNTS = (1, 2, 4, 6, 3, 1)
CRASH_COUNTS = (6, 3, 1)
STEP_TIMEOUT_S = 120.0  # above the 45 s session timeout a crash waits for


@dataclass(frozen=True)
class Config:
    key: str
    name: str
    args: tuple[str, ...]
    static: bool = False

    @property
    def model_key(self) -> str:
        """How lagscale/simulate/measured.json names this protocol and assignor."""
        if "consumer" in self.args:
            return "consumer"
        return "classic/" + self.args[self.args.index("--assignment-strategy") + 1]


CONFIGS = {
    c.key: c
    for c in (
        Config(
            "range",
            "classic range (eager)",
            ("--group-protocol", "classic", "--assignment-strategy", "range"),
        ),
        Config(
            "roundrobin",
            "classic roundrobin (eager)",
            ("--group-protocol", "classic", "--assignment-strategy", "roundrobin"),
        ),
        Config(
            "cooperative",
            "classic cooperative-sticky",
            ("--group-protocol", "classic", "--assignment-strategy", "cooperative-sticky"),
        ),
        Config(
            "static",
            "classic cooperative-sticky + static",
            ("--group-protocol", "classic", "--assignment-strategy", "cooperative-sticky"),
            static=True,
        ),
        Config("consumer", "consumer (KIP-848)", ("--group-protocol", "consumer")),
        Config(
            "consumer-static", "consumer (KIP-848) + static", ("--group-protocol", "consumer"), static=True
        ),
    )
}
DEFAULT_CONFIGS = ("range", "roundrobin", "cooperative", "static", "consumer")


@dataclass(frozen=True)
class Load:
    rate: float
    process_time: float
    settle: float


def wait_stable(fleet: Fleet, since: float, settle: float, timeout: float) -> tuple[float | None, float]:
    """Waits until ownership is balanced and has not changed for `settle` seconds; returns (time
    of the last change, None if it never settled; when the wait ended)."""
    last_change, deadline = since, since + timeout
    while time.time() < deadline:
        changed = fleet.refresh()
        if changed is not None:
            last_change = max(last_change, changed)
        if fleet.balanced(PARTITIONS) and time.time() - max(last_change, since) >= settle:
            return last_change, time.time()
        time.sleep(0.1)
    return None, time.time()


def run_group(
    bootstrap: str, config: Config, crash: bool, load: Load, workdir: Path
) -> tuple[list[StepCost], Observations]:
    """One topic, one group, one producer; the scale steps of one mode."""
    suffix = secrets.token_hex(3)
    topic, group = f"bench-rebalance-{config.key}-{suffix}", f"bench-rebalance-{config.key}-{suffix}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=60)
    log_dir = workdir / f"{config.key}-{'crash' if crash else 'graceful'}"
    log_dir.mkdir(parents=True, exist_ok=True)
    producer_args = [
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--rate",
        f"{load.rate:g}",
        "--key",
        "sequence",
    ]
    with (log_dir / "producer.log").open("wb") as log:
        producer = subprocess.Popen(
            [sys.executable, "-m", "producer", *producer_args], cwd=REPO_ROOT, env=child_env(), stderr=log
        )
    consumer_args = ["--bootstrap", bootstrap, "--topic", topic, "--group", group, "--verbose"]
    consumer_args += ["--process-time", f"{load.process_time:g}", "--no-create-dlq-topic", *config.args]
    fleet = Fleet(consumer_args, log_dir, config.static)
    counts = CRASH_COUNTS if crash else GRACEFUL_COUNTS
    windows: list[StepWindow] = []
    try:
        fleet.start(counts[0])
        wait_stable(fleet, time.time(), load.settle, STEP_TIMEOUT_S)
        for before, after in itertools.pairwise(counts):
            owners_before, started_at = fleet.owners(), time.time()
            if after > before:
                fleet.start(after - before)
            else:
                fleet.stop_newest(before - after, crash)
            survivors = frozenset(m.number for m in fleet.alive if m.started_at < started_at)
            stable_at, ended_at = wait_stable(fleet, started_at, load.settle, STEP_TIMEOUT_S)
            label = f"{before} → {after}"
            windows.append(
                StepWindow(label, started_at, ended_at, stable_at, survivors, owners_before, fleet.owners())
            )
            print(f"  {config.name} {'crash' if crash else 'graceful'} {label}", file=sys.stderr)
    finally:
        fleet.close()
        producer.terminate()
        producer.wait(30)
        admin.delete_topics([topic])
    records = [record for member in fleet.members for record in member.processed()]
    changes = [change for member in fleet.members for change in member.all_changes()]
    repeats = duplicate_times(records)
    observed = observe(fleet.members, load.process_time, fleet.start_batches)
    return [step_cost(window, records, changes, repeats) for window in windows], observed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="", help="PLAINTEXT host:port (default: the local broker)")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--modes", default="graceful,crash", help="graceful and/or crash")
    parser.add_argument("--rate", type=float, default=700.0, help="events/s produced")
    parser.add_argument("--process-time", type=float, default=0.01, help="seconds of work per event")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of stable ownership per step")
    parser.add_argument("--logs", type=Path, default=None, help="keep the members' logs in this directory")
    parser.add_argument("--update-docs", type=Path, default=None, help="write the tables into this file")
    parser.add_argument(
        "--update-model", type=Path, default=None, help="write the simulator's timings (measured.json) here"
    )
    args = parser.parse_args()
    unknown = [key for key in args.configs.split(",") if key not in CONFIGS]
    if unknown:
        raise SystemExit(f"error: unknown --configs {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    bootstrap = bootstrap_address(args.bootstrap)
    load = Load(args.rate, args.process_time, args.settle)
    load_before = os.getloadavg()[0]
    graceful: dict[str, list[StepCost]] = {}
    crash: dict[str, list[StepCost]] = {}
    observed: dict[str, list[Observations]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-rebalance-") as scratch:
        workdir = args.logs or Path(scratch)
        for key in args.configs.split(","):
            config = CONFIGS[key]
            for crashing in (False, True):
                if ("crash" if crashing else "graceful") not in args.modes:
                    continue
                costs, seen = run_group(bootstrap, config, crashing, load, workdir)
                (crash if crashing else graceful)[config.name] = costs
                if not config.static:  # the simulator models dynamic members only
                    observed.setdefault(config.model_key, []).append(seen)
    command = (
        ".venv/bin/python bench/bench_rebalance.py --update-docs docs/benchmarks.md "
        "--update-model lagscale/simulate/measured.json"
    )
    setup = Setup(
        command, PARTITIONS, load.rate, load.process_time, load.settle, (load_before, os.getloadavg()[0])
    )
    group_args = {config.model_key: config.args for config in CONFIGS.values() if not config.static}
    model = write_model(args.update_model, bootstrap, observed, group_args, (command, setup.load_average))
    section = markdown(graceful, crash, setup, anchor=CONFIGS["range"].name, model=model)
    print(section)
    if args.update_docs:
        update_docs(args.update_docs, "bench_rebalance", section)


if __name__ == "__main__":
    main()
