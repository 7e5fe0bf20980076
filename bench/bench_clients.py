"""Producer and consumer throughput and memory: our apps vs kcat on the local broker.

Same run, same broker, 200-byte events: `python -m producer` (confluent and kafka-python clients)
against `kcat -P`, and `python -m consumer --process-time 0` against `kcat -C`. Each tool runs as
its own process; wall time, CPU time and peak RSS come from the kernel (wait4 rusage). The
machine may be shared, so besides events per wall second the table shows events per CPU second,
which load on other cores does not distort. Every producer (kcat included) also sends a single
event in the same loop: that run is its fixed cost (interpreter, imports, connecting, flushing),
and the difference between the two runs gives its steady throughput, the rate once it is running,
which the producer target is judged on. The consumer has no kafka-python variant (it is
confluent-only), so there is no such consumer row.

    .venv/bin/python bench/bench_clients.py                     # uses or starts scripts/kafka
    .venv/bin/python bench/bench_clients.py --update-docs docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench_evaluation import bootstrap_address  # noqa: E402 - shared bench helper

from kafkakit.events import Event, EventEncoder, encode_event  # noqa: E402

SECTION_START = "<!-- bench_clients:start -->"
SECTION_END = "<!-- bench_clients:end -->"
EVENT_BYTES = 200
PARTITIONS = 3
# Targets from the issue: our confluent producer and our consumer at >= half of kcat's rate,
# and each app within 80 MB resident memory.
RATE_TARGET = 0.5
RSS_TARGET_MB = 80.0
IMPORTS = "python -c 'import producer.cli'"
ONE_EVENT = " (1 event)"  # suffix of the single-event run of a producer


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Result:
    name: str
    kind: str  # "produce" or "consume"
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


def timed(command: list[str], stdin_path: Path | None = None) -> Run:
    """Run `command` to completion; wall time, user+sys CPU and peak RSS of that process."""
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if stdin_path:
        stdin.close()  # type: ignore[union-attr]
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{error[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def make_topic(admin: AdminClient, prefix: str) -> str:
    name = f"bench-{prefix}-{secrets.token_hex(3)}"
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(30)
    time.sleep(0.5)  # leaders settle; not part of any measurement
    return name


def topic_size(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-size"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in range(PARTITIONS))
    finally:
        consumer.close()


def write_events(path: Path, count: int) -> None:
    with path.open("wb") as file:
        for sequence in range(count):
            file.write(encode_event(Event.new(sequence, "bench"), EVENT_BYTES) + b"\n")


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
                runs.setdefault("kcat -C", []).append(
                    timed(["kcat", "-C", "-b", bootstrap, "-t", loaded, "-o", "beginning", "-e", "-q"])
                )
                command = [python, "-m", "consumer", "--bootstrap", bootstrap, "--topic", loaded]
                command += ["--group", f"bench-{secrets.token_hex(3)}", "--process-time", "0"]
                # All events are valid: point the dead-letter topic at an existing one rather than
                # timing the creation of a `.dlq` topic.
                command += ["--max-events", str(events), "--no-create-dlq-topic", "--dlq-topic", loaded]
                runs.setdefault("consumer (--process-time 0)", []).append(timed(command))
        for topic, count in expected.items():
            if topic_size(bootstrap, topic) != count:
                raise SystemExit(f"{topic} holds {topic_size(bootstrap, topic)} events, expected {count}")
    finally:
        if expected:
            admin.delete_topics(list(expected))
    counts = {"producer (kafka-python)": kafka_python_events, IMPORTS: 0}
    consumers = ("kcat -C", "consumer (--process-time 0)")

    def kind(name: str) -> str:
        if name == IMPORTS or name.endswith(ONE_EVENT):
            return "fixed"
        return "consume" if name in consumers else "produce"

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
    consumer, kcat_c = by_name["consumer (--process-time 0)"], by_name["kcat -C"]
    return (
        f"Reading the numbers: a run of one event costs kcat {median_ms(kcat_one):.0f} ms and our "
        f"producer {median_ms(ours_one):.0f} ms (`python -c 'import producer.cli'` alone "
        f"{median_ms(by_name[IMPORTS]):.0f} ms): with {ours.events:,} events that start-up is a "
        "large part of the wall time, so the start-up-included ratio understates what the "
        f"producer does once it runs. Once running, each event costs kcat {kcat_per_event} and our "
        f"producer {per_event}: building it ({encode_cost_us:.2f} µs), one produce() call, and "
        "librdkafka's work on its own threads. produce_batch() measured no faster (it needs a dict "
        "per event). One producer process sends several hundred times what an Event Hubs "
        "throughput unit takes in (1,000 events/s). The consumer decodes and validates every "
        f"event (orjson, then the schema checks): its wall rate is "
        f"{consumer.wall_rate / kcat_c.wall_rate:.2f}x kcat's, start-up and group join included, "
        "while per CPU second kcat, which only copies bytes, does "
        f"{kcat_c.cpu_rate / consumer.cpu_rate:.0f}x more. The consumer is confluent-only, so "
        "there is no kafka-python consumer row."
    )


def markdown(results: list[Result], command: str, load: tuple[float, float], encode_cost_us: float) -> str:
    by_name = {r.name: r for r in results}
    anchors = {r.kind: r for r in results if r.name in ("kcat -P", "kcat -C")}
    rows = [
        "| process | events | events/s (wall, start-up included) | vs kcat | events/s (steady) | vs kcat "
        "| events/CPU-s | vs kcat | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in (r for r in results if r.kind != "fixed"):
        anchor = anchors[result.kind]
        steady, anchor_steady = steady_rate(result, by_name), steady_rate(anchor, by_name)
        rows.append(
            f"| {result.name} | {result.events:,} | {result.wall_rate:,.0f} | "
            f"{result.wall_rate / anchor.wall_rate:.2f}x | {f'{steady:,.0f}' if steady else '-'} | "
            f"{_ratio(steady, anchor_steady)} | {result.cpu_rate:,.0f} | "
            f"{result.cpu_rate / anchor.cpu_rate:.2f}x | {result.peak_rss_mb:.0f} |"
        )
    producer, kcat_p = by_name["producer (confluent)"], anchors["produce"]
    producer_ratio = (steady_rate(producer, by_name) or 0) / (steady_rate(kcat_p, by_name) or 1)
    consumer, kcat_c = by_name["consumer (--process-time 0)"], anchors["consume"]
    consumer_ratio = consumer.wall_rate / kcat_c.wall_rate
    verdicts = [
        f"- confluent producer >= {RATE_TARGET:g}x kcat -P (steady): {producer_ratio:.2f}x "
        f"(start-up included {producer.wall_rate / kcat_p.wall_rate:.2f}x) -> "
        f"{'met' if producer_ratio >= RATE_TARGET else 'NOT met'}",
        f"- consumer >= {RATE_TARGET:g}x kcat -C (wall, start-up and group join included): "
        f"{consumer_ratio:.2f}x -> {'met' if consumer_ratio >= RATE_TARGET else 'NOT met'}",
    ]
    ours = [r for r in results if r.kind != "fixed" and not r.name.startswith("kcat")]
    worst = max(ours, key=lambda r: r.peak_rss_mb)
    verdicts.append(
        f"- RSS <= {RSS_TARGET_MB:.0f} MB per app: max {worst.peak_rss_mb:.0f} MB ({worst.name}) -> "
        f"{'met' if worst.peak_rss_mb <= RSS_TARGET_MB else 'NOT met'}"
    )
    return "\n".join(
        [
            "## Producer and consumer throughput",
            "",
            f"Command: `{command}`",
            "",
            f"{EVENT_BYTES}-byte events, {PARTITIONS} partitions, local PLAINTEXT broker, median of "
            f"{len(results[0].runs)} interleaved runs; each run is a fresh process. Wall rates "
            "include start-up, the broker check and (for consumers) joining the group; steady rates "
            "subtract the same tool's one-event run. "
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


def update_docs(path: Path, section: str) -> None:
    """Replace only this benchmark's section (between its markers); other sections stay."""
    block = f"{SECTION_START}\n{section}{SECTION_END}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + block + rest.split(SECTION_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="", help="PLAINTEXT host:port (default: the local broker)")
    parser.add_argument("--events", type=int, default=300_000, help="events per run")
    parser.add_argument("--kafka-python-events", type=int, default=30_000, help="events per kafka-python run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--update-docs", type=Path, default=None, help="write the table into this file")
    args = parser.parse_args()
    bootstrap = bootstrap_address(args.bootstrap)
    load_before = os.getloadavg()[0]
    results = bench(bootstrap, args.events, args.kafka_python_events, args.repeats)
    command = ".venv/bin/python bench/bench_clients.py --update-docs docs/benchmarks.md"
    section = markdown(results, command, (load_before, os.getloadavg()[0]), encode_us(args.events))
    print(section)
    if args.update_docs:
        update_docs(args.update_docs, section)


if __name__ == "__main__":
    main()
