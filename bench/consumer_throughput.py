"""The consumer part of bench_clients.py: `lagscale consume` against `kcat -G`, like for like.

Both sides are members of a consumer group that is new for every run (so both start at the
beginning of the topic, after joining), read the same topic on the same broker in the same run,
stop after a given number of events and leave the group with their offsets committed. Every
process runs with N events and with 1 event; the one-event run is the fixed cost (start-up, join,
first fetch, commit, leave), and (N - 1) / (wall of N - wall of 1) is the steady rate. After
every run the group's committed offsets are checked to cover exactly the events asked for.

Earlier revisions of the consumer (`--variant LABEL=REV`) run from a `git archive` of that
revision, with the same interpreter and the same installed libraries, interleaved with the rest:
that is how each optimisation step is measured against the same kcat in the same run.
"""

from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from client_runs import EVENT_BYTES, PARTITIONS, REPO_ROOT, Run, committed_total, timed
from confluent_kafka.admin import AdminClient, NewTopic

KCAT = "kcat -G"
OURS = "lagscale consume"
RATE_TARGET = 0.5  # the target: at least half of kcat's rate


@dataclass(frozen=True)
class Contender:
    name: str
    cwd: Path  # `python -m lagscale` imports the code found here (kcat ignores it)

    def command(self, bootstrap: str, topic: str, group: str, count: int) -> list[str]:
        if self.name == KCAT:
            # auto.offset.reset: a new group starts at the beginning, as `lagscale consume` does.
            kcat = ["kcat", "-C", "-q", "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest"]
            return [*kcat, "-c", str(count), topic]
        ours = [sys.executable, "-m", "lagscale", "consume", "--bootstrap", bootstrap, "--topic", topic]
        return [*ours, "--group", group, "--max-events", str(count), "--process-time", "0"]


@dataclass
class Measured:
    contender: Contender
    events: int
    full: list[Run] = field(default_factory=list)  # N events
    single: list[Run] = field(default_factory=list)  # 1 event

    def wall_rate(self, index: int | None = None) -> float:
        return self.events / _wall(self.full, index)

    def steady_rate(self, index: int | None = None) -> float:
        extra = _wall(self.full, index) - _wall(self.single, index)
        return (self.events - 1) / extra if extra > 0 else float("nan")

    @property
    def steady_cpu_us(self) -> float:
        """CPU time (all threads, user + system) per event once running, in microseconds."""
        full, single = (statistics.median(run.cpu_s for run in runs) for runs in (self.full, self.single))
        return 1e6 * (full - single) / (self.events - 1)

    @property
    def single_ms(self) -> float:
        return 1000 * _wall(self.single, None)

    @property
    def peak_rss_mb(self) -> float:
        return max(run.peak_rss_mb for run in self.full)


def _wall(runs: list[Run], index: int | None) -> float:
    """Wall seconds of run `index`, or the median of all runs."""
    return runs[index].wall_s if index is not None else statistics.median(run.wall_s for run in runs)


@contextmanager
def checkouts(variants: list[str]) -> Iterator[list[Contender]]:
    """Contenders for `LABEL=REV` variants, each a `git archive` of REV in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as scratch:
        contenders = []
        for index, variant in enumerate(variants):
            label, _, revision = variant.partition("=")
            if not revision:
                raise SystemExit(f"--variant {variant!r}: expected LABEL=REV")
            folder = Path(scratch) / str(index)
            folder.mkdir()
            archive = subprocess.run(
                ["git", "archive", revision], cwd=REPO_ROOT, capture_output=True, check=False
            )
            if archive.returncode != 0:
                raise SystemExit(f"--variant {variant!r}: {archive.stderr.decode().strip()}")
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
            contenders.append(Contender(f"{label} ({revision})", folder))
        yield contenders


def fill_topic(admin: AdminClient, bootstrap: str, lines: Path) -> str:
    """A new topic loaded with the events in `lines` (kcat -P), and its dead-letter topic, so
    that `lagscale consume` with its defaults does not create one in the first timed run."""
    topic = f"bench-consume-{secrets.token_hex(3)}"
    futures = admin.create_topics([NewTopic(topic, PARTITIONS, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    for future in futures.values():
        future.result(30)
    with lines.open("rb") as stdin:
        subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic], stdin=stdin, check=True)
    return topic


def bench(bootstrap: str, topic: str, events: int, repeats: int, extra: list[Contender]) -> list[Measured]:
    contenders = [Contender(KCAT, REPO_ROOT), Contender(OURS, REPO_ROOT), *extra]
    measured = {c.name: Measured(c, events) for c in contenders}
    plan = [(c, count) for c in contenders for count in (events, 1)]
    for repeat in range(repeats):
        shift = repeat % len(plan)  # interleaved, and each process goes first in some repetition
        for contender, count in plan[shift:] + plan[:shift]:
            group = f"bench-consume-{secrets.token_hex(4)}"
            run = timed(contender.command(bootstrap, topic, group, count), cwd=contender.cwd)
            committed = committed_total(bootstrap, group, topic)
            if committed != count:
                raise SystemExit(f"{contender.name} committed {committed} events, expected {count}")
            target = measured[contender.name]
            (target.full if count == events else target.single).append(run)
    return list(measured.values())


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def _ratios(ours: Measured, kcat: Measured, steady: bool) -> list[float]:
    if steady:
        return [ours.steady_rate(i) / kcat.steady_rate(i) for i in range(len(ours.full))]
    return [ours.wall_rate(i) / kcat.wall_rate(i) for i in range(len(ours.full))]


def _row(result: Measured, kcat: Measured) -> str:
    steady, wall = _ratios(result, kcat, steady=True), _ratios(result, kcat, steady=False)
    return (
        f"| {result.contender.name} | {result.single_ms:.0f} | {result.steady_rate():,.0f} | "
        f"{result.steady_rate() / kcat.steady_rate():.2f}x ({_spread(steady)}) | {result.wall_rate():,.0f} | "
        f"{result.wall_rate() / kcat.wall_rate():.2f}x ({_spread(wall)}) | {result.steady_cpu_us:.2f} | "
        f"{result.peak_rss_mb:.0f} |"
    )


HEADER = [
    "| process | one-event run ms | events/s steady | vs kcat (min-max) | events/s start-up and join "
    "included | vs kcat (min-max) | CPU µs per event, steady | peak RSS MB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]


def markdown(results: list[Measured], command: str, load: tuple[float, float], kcat_version: str) -> str:
    kcat, ours = results[0], results[1]
    steady_ratio = ours.steady_rate() / kcat.steady_rate()
    wall_ratio = ours.wall_rate() / kcat.wall_rate()
    return "\n".join(
        [
            "## Consumer throughput, like for like",
            "",
            f"Command: `{command}`",
            "",
            f"{ours.events:,} events of {EVENT_BYTES} bytes in one topic of {PARTITIONS} partitions on the "
            f"local PLAINTEXT broker; median of {len(ours.full)} interleaved repetitions in one run, "
            "every run a whole, fresh process and a new consumer group. "
            f"Load average before/after: {load[0]:.1f}/{load[1]:.1f}.",
            "",
            f"- `{KCAT}`: `kcat -C -q -b <broker> -G <new group> -X auto.offset.reset=earliest -c N <topic>` "
            f"({kcat_version}): a group member (classic protocol, librdkafka's defaults) that writes "
            "each value to stdout (here /dev/null), stops after N messages and leaves the group; "
            "its offsets are auto-committed (stored as each message is handed over, committed every 5 s "
            "and on close).",
            f"- `{OURS}`: `lagscale consume --bootstrap <broker> --topic <topic> --group <new group> "
            "--max-events N --process-time 0` (run as `python -m lagscale consume`): checks the topic "
            "and its dead-letter topic, joins, decodes and validates every event as JSON, commits "
            "only processed offsets (every 1 s, then on leaving), stops after N events and leaves.",
            "- Both start at the beginning of the topic after joining (a new group each run) and end "
            "by counting messages. After every run the group's committed offsets were read back: "
            "they covered exactly the N (or 1) events, for both.",
            "- *One-event run*: the same command with N = 1: start-up, joining, the first fetch, the "
            "commit and leaving. *Steady*: (N - 1) / (wall time of N - wall time of 1), the rate once "
            "joined. *Start-up and join included*: N / wall time of the N-event process. Ratios are of "
            "the medians; the range is the ratio within each repetition, lowest to highest.",
            "",
            *HEADER,
            *(_row(result, kcat) for result in results[:2]),
            "",
            f"- consumer >= {RATE_TARGET:g}x kcat (steady): {steady_ratio:.2f}x -> "
            f"{'met' if steady_ratio >= RATE_TARGET else 'NOT met'}; start-up and join included: "
            f"{wall_ratio:.2f}x",
            "",
        ]
    )


def steps_markdown(results: list[Measured], command: str) -> str:
    """The optimisation steps (variants) beside the current tree, against the same kcat."""
    kcat = results[0]
    return "\n".join(
        [
            "### Consumer optimisation steps, measured in one run",
            "",
            f"Command: `{command}`",
            "",
            "Each step is the consumer as committed at that revision, run as above (same topic, "
            f"same kcat, interleaved); the last row, `{OURS}`, is the working tree the benchmark ran from.",
            "",
            *HEADER,
            *(_row(result, kcat) for result in [kcat, *results[2:], results[1]]),
            "",
        ]
    )
