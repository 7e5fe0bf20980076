"""Producer and consumer throughput and memory: our apps vs kcat on the local broker.

Producer part: `python -m producer` (confluent and kafka-python clients) against `kcat -P`, same
run, same broker, 200-byte events. Each tool runs as its own process; wall time, CPU time and peak
RSS come from the kernel (wait4 rusage). The machine may be shared, so besides events per wall
second the table shows events per CPU second, which load on other cores does not distort. Every
producer (kcat included) also sends a single event in the same loop: that run is its fixed cost
(interpreter, imports, connecting, flushing), and the difference between the two runs gives its
steady throughput, the rate once it is running, which the producer target is judged on.

Consumer part (consumer_throughput.py): `lagscale consume --process-time 0` against `kcat -G`,
both group members, like for like; `--variant LABEL=REV` adds earlier revisions of the consumer
to the same run (the optimisation steps table).

    .venv/bin/python bench/bench_clients.py                     # uses or starts scripts/kafka
    .venv/bin/python bench/bench_clients.py --update-docs docs/benchmarks.md
    .venv/bin/python bench/bench_clients.py --only consumer --variant "baseline=main" ...
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import consumer_throughput  # noqa: E402 - bench modules beside this script
from bench_evaluation import bootstrap_address  # noqa: E402
from client_runs import EVENT_BYTES, PARTITIONS, Run, end_offsets, make_topic, timed  # noqa: E402
from docs_section import update_docs  # noqa: E402

from kafkakit.events import EventEncoder  # noqa: E402

SECTION = "bench_clients"
CONSUMER_SECTION = "bench_consumer"
STEPS_SECTION = "bench_consumer_steps"
# Targets from the issue: our confluent producer at >= half of kcat's rate (the consumer's is in
# consumer_throughput.py), and each app within 80 MB resident memory.
RATE_TARGET = 0.5
RSS_TARGET_MB = 80.0
IMPORTS = "python -c 'import producer.cli'"
ONE_EVENT = " (1 event)"  # suffix of the single-event run of a producer


@dataclass(frozen=True)
class Result:
    name: str
    kind: str  # "produce" or "fixed"
    events: int
    runs: list[Run]

    @property
    def wall_rate(self) -> float:
        return self.events / statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_rate(self) -> float:
        return self.events / statistics.median(r.cpu_s for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)


def write_events(path: Path, count: int) -> None:
    encoder = EventEncoder("bench", EVENT_BYTES)
    with path.open("wb") as file:
        for start in range(0, count, 1000):
            file.writelines(event + b"\n" for event in encoder.encode(range(start, min(count, start + 1000))))


def bench(bootstrap: str, events: int, kafka_python_events: int, repeats: int) -> list[Result]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    python = sys.executable
    runs: dict[str, list[Run]] = {}
    expected: dict[str, int] = {}  # topic -> events it must hold afterwards
    try:
        with tempfile.TemporaryDirectory() as scratch:
            lines = Path(scratch) / "events.jsonl"
            write_events(lines, events)
            one_line = Path(scratch) / "one.jsonl"
            write_events(one_line, 1)
            for _ in range(repeats):  # interleaved, so slow phases of a shared machine hit all tools
                loaded = make_topic(admin, "kcat")
                expected[loaded] = events + 1
                kcat = ["kcat", "-P", "-b", bootstrap, "-t", loaded]
                runs.setdefault("kcat -P", []).append(timed(kcat, stdin_path=lines))
                runs.setdefault("kcat -P" + ONE_EVENT, []).append(timed(kcat, stdin_path=one_line))
                for client, count in (("confluent", events), ("kafka-python", kafka_python_events)):
                    topic = make_topic(admin, client)
                    expected[topic] = count + 1
                    command = [python, "-m", "producer", "--bootstrap", bootstrap, "--topic", topic]
                    command += ["--size", str(EVENT_BYTES), "--client", client]
                    name = f"producer ({client})"
                    runs.setdefault(name, []).append(timed([*command, "--count", str(count)]))
                    runs.setdefault(name + ONE_EVENT, []).append(timed([*command, "--count", "1"]))
                runs.setdefault(IMPORTS, []).append(timed([python, "-c", "import producer.cli"]))
        for topic, count in expected.items():
            if end_offsets(bootstrap, topic) != count:
                raise SystemExit(f"{topic} holds {end_offsets(bootstrap, topic)} events, expected {count}")
    finally:
        if expected:
            admin.delete_topics(list(expected))
    counts = {"producer (kafka-python)": kafka_python_events, IMPORTS: 0}

    def kind(name: str) -> str:
        return "fixed" if name == IMPORTS or name.endswith(ONE_EVENT) else "produce"

    return [
        Result(name, kind(name), 1 if name.endswith(ONE_EVENT) else counts.get(name, events), measured)
        for name, measured in runs.items()
    ]


def median_ms(result: Result) -> float:
    return 1000 * statistics.median(run.wall_s for run in result.runs)


def steady_rate(result: Result, by_name: dict[str, Result]) -> float | None:
    """Events/s once running: (events - 1) / (wall of the run - wall of the one-event run)."""
    single = by_name.get(result.name + ONE_EVENT)
    if single is None:
        return None
    extra_s = (median_ms(result) - median_ms(single)) / 1000
    return (result.events - 1) / extra_s if extra_s > 0 else None


def encode_us(events: int) -> float:
    """CPU µs to build one event with the producer's EventEncoder, in this process."""
    encoder = EventEncoder("bench", EVENT_BYTES)
    started = time.process_time()
    for start in range(0, events, 1000):
        encoder.encode(range(start, start + 1000))
    return (time.process_time() - started) * 1e6 / events


def _ratio(ours: float | None, anchor: float | None) -> str:
    return f"{ours / anchor:.2f}x" if ours and anchor else "-"


def reading(by_name: dict[str, Result], encode_cost_us: float) -> str:
    """What the numbers mean, computed from this run's numbers."""
    kcat, ours = by_name["kcat -P"], by_name["producer (confluent)"]
    kcat_one, ours_one = by_name["kcat -P" + ONE_EVENT], by_name["producer (confluent)" + ONE_EVENT]
    kcat_rate, ours_rate = steady_rate(kcat, by_name), steady_rate(ours, by_name)
    per_event = f"{1e6 / ours_rate:.2f} µs" if ours_rate else "-"
    kcat_per_event = f"{1e6 / kcat_rate:.2f} µs" if kcat_rate else "-"
    return (
        f"Reading the numbers: a run of one event costs kcat {median_ms(kcat_one):.0f} ms and our "
        f"producer {median_ms(ours_one):.0f} ms (`python -c 'import producer.cli'` alone "
        f"{median_ms(by_name[IMPORTS]):.0f} ms): with {ours.events:,} events that start-up is a "
        "large part of the wall time, so the start-up-included ratio understates what the "
        f"producer does once it runs. Once running, each event costs kcat {kcat_per_event} and our "
        f"producer {per_event}: building it ({encode_cost_us:.2f} µs), one produce() call, and "
        "librdkafka's work on its own threads. produce_batch() measured no faster (it needs a dict "
        "per event). One producer process sends several hundred times what an Event Hubs "
        "throughput unit takes in (1,000 events/s)."
    )


def markdown(results: list[Result], command: str, load: tuple[float, float], encode_cost_us: float) -> str:
    by_name = {r.name: r for r in results}
    anchor = by_name["kcat -P"]
    rows = [
        "| process | events | events/s (wall, start-up included) | vs kcat | events/s (steady) | vs kcat "
        "| events/CPU-s | vs kcat | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in (r for r in results if r.kind != "fixed"):
        steady, anchor_steady = steady_rate(result, by_name), steady_rate(anchor, by_name)
        rows.append(
            f"| {result.name} | {result.events:,} | {result.wall_rate:,.0f} | "
            f"{result.wall_rate / anchor.wall_rate:.2f}x | {f'{steady:,.0f}' if steady else '-'} | "
            f"{_ratio(steady, anchor_steady)} | {result.cpu_rate:,.0f} | "
            f"{result.cpu_rate / anchor.cpu_rate:.2f}x | {result.peak_rss_mb:.0f} |"
        )
    producer, kcat_p = by_name["producer (confluent)"], anchor
    producer_ratio = (steady_rate(producer, by_name) or 0) / (steady_rate(kcat_p, by_name) or 1)
    verdicts = [
        f"- confluent producer >= {RATE_TARGET:g}x kcat -P (steady): {producer_ratio:.2f}x "
        f"(start-up included {producer.wall_rate / kcat_p.wall_rate:.2f}x) -> "
        f"{'met' if producer_ratio >= RATE_TARGET else 'NOT met'}",
    ]
    ours = [r for r in results if r.kind != "fixed" and not r.name.startswith("kcat")]
    worst = max(ours, key=lambda r: r.peak_rss_mb)
    verdicts.append(
        f"- RSS <= {RSS_TARGET_MB:.0f} MB per app: max {worst.peak_rss_mb:.0f} MB ({worst.name}) -> "
        f"{'met' if worst.peak_rss_mb <= RSS_TARGET_MB else 'NOT met'}"
    )
    return "\n".join(
        [
            "## Producer throughput",
            "",
            f"Command: `{command}`",
            "",
            f"{EVENT_BYTES}-byte events, {PARTITIONS} partitions, local PLAINTEXT broker, median of "
            f"{len(results[0].runs)} interleaved runs; each run is a fresh process. Wall rates "
            "include start-up and the broker check; steady rates subtract the same tool's one-event "
            "run. "
            f"Load average before/after: {load[0]:.1f}/{load[1]:.1f} on {os.cpu_count()} CPUs.",
            "",
            *rows,
            "",
            *verdicts,
            "",
            reading(by_name, encode_cost_us),
            "",
        ]
    )


def consumer_part(bootstrap: str, args: argparse.Namespace) -> tuple[str, str | None]:
    """The consumer tables: like for like, and the optimisation steps when --variant is given."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    about = subprocess.run(["kcat", "-V"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Version (\S+) .*librdkafka (\S+)", about)
    kcat_version = f"kcat {found[1]}, librdkafka {found[2]}" if found else "kcat"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch, consumer_throughput.checkouts(args.variant) as variants:
        lines = Path(scratch) / "events.jsonl"
        write_events(lines, args.consumer_events)
        topic = consumer_throughput.fill_topic(admin, bootstrap, lines)
        try:
            if end_offsets(bootstrap, topic) != args.consumer_events:
                raise SystemExit(f"{topic} holds {end_offsets(bootstrap, topic)} events")
            results = consumer_throughput.bench(
                bootstrap, topic, args.consumer_events, args.consumer_repeats, variants
            )
        finally:
            admin.delete_topics([topic, f"{topic}.dlq"])
    load = (load_before, os.getloadavg()[0])
    section = consumer_throughput.markdown(results, this_command(), load, kcat_version)
    if not args.variant:
        return section, None
    return section, consumer_throughput.steps_markdown(results, this_command())


def this_command() -> str:
    """How this run was started, for the docs."""
    return shlex.join([".venv/bin/python", "bench/bench_clients.py", *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="", help="PLAINTEXT host:port (default: the local broker)")
    parser.add_argument("--only", choices=["producer", "consumer"], default=None, help="run one part")
    parser.add_argument("--events", type=int, default=300_000, help="events per producer run")
    parser.add_argument("--kafka-python-events", type=int, default=30_000, help="events per kafka-python run")
    parser.add_argument("--repeats", type=int, default=5, help="producer repetitions")
    parser.add_argument("--consumer-events", type=int, default=500_000, help="events per consumer run")
    parser.add_argument("--consumer-repeats", type=int, default=7, help="consumer repetitions")
    parser.add_argument(
        "--variant", action="append", default=[], help="LABEL=REV: also run the consumer of git revision REV"
    )
    parser.add_argument("--update-docs", type=Path, default=None, help="write the tables into this file")
    args = parser.parse_args()
    bootstrap = bootstrap_address(args.bootstrap)
    sections: dict[str, str | None] = {}
    if args.only in (None, "producer"):
        load_before = os.getloadavg()[0]
        results = bench(bootstrap, args.events, args.kafka_python_events, args.repeats)
        load = (load_before, os.getloadavg()[0])
        sections[SECTION] = markdown(results, this_command(), load, encode_us(args.events))
    if args.only in (None, "consumer"):
        sections[CONSUMER_SECTION], sections[STEPS_SECTION] = consumer_part(bootstrap, args)
    for name, section in sections.items():
        if section is None:
            continue
        print(section)
        if args.update_docs:
            update_docs(args.update_docs, name, section)


if __name__ == "__main__":
    main()
