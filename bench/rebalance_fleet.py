"""Consumer processes for bench_rebalance.py, and what their logs say.

Each member is a whole `python -m consumer --verbose` process writing its log to a file of its
own. From those lines come who owned which partitions when (`assigned` / `revoked` / `lost`, each
naming the partitions that changed hands) and which event each member processed when
(`processed ... partition=P offset=O`, one line per event with --verbose).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from calendar import timegm
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(rb"^ts=(\S+) \S+ \S+ event=(assigned|revoked|lost|processed) (.*)$", re.MULTILINE)
_START = re.compile(rb"^ts=(\S+) \S+ \S+ event=start ", re.MULTILINE)
_FIELD = re.compile(rb"(\w+)=(\S+)")
# Variables that would change which broker or group a member uses.
_CONNECTION_PREFIXES = ("KAFKA_EVENTHUB_", "LAGSCALE_", "EVENTHUBS_")


def log_time(stamp: bytes) -> float:
    """`2026-12-07T01:17:15.281Z` as epoch seconds (what the log formatter wrote)."""
    text = stamp.decode()
    seconds = timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds + int(text[20:23]) / 1000


def child_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_CONNECTION_PREFIXES)}
    return {**clean, "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Processed:
    at: float
    member: int
    partition: int
    offset: int


@dataclass(frozen=True)
class OwnershipChange:
    at: float
    member: int
    kind: str  # assigned, revoked or lost
    partitions: frozenset[int]


@dataclass
class Member:
    number: int
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    stopped_at: float | None = None
    owned: set[int] = field(default_factory=set)
    _read: int = 0  # bytes of the log already scanned for ownership changes

    @property
    def alive(self) -> bool:
        return self.stopped_at is None

    def new_changes(self) -> list[OwnershipChange]:
        """Ownership changes logged since the last call; `owned` follows them."""
        with self.log_path.open("rb") as log:
            log.seek(self._read)
            chunk = log.read()
        complete = chunk.rfind(b"\n") + 1
        self._read += complete
        changes = []
        for match in _LINE.finditer(chunk[:complete]):
            if match.group(2) == b"processed":
                continue
            change = _change(self.number, match)
            if change.kind == "assigned":
                self.owned |= change.partitions
            else:
                self.owned -= change.partitions
            changes.append(change)
        return changes

    def processed(self) -> list[Processed]:
        records = []
        for match in _LINE.finditer(self.log_path.read_bytes()):
            if match.group(2) != b"processed":
                continue
            fields = dict(_FIELD.findall(match.group(3)))
            at = log_time(match.group(1))
            records.append(Processed(at, self.number, int(fields[b"partition"]), int(fields[b"offset"])))
        return records

    def start_line_at(self) -> float | None:
        """When the member logged `start` (imports and broker check done; it joins next)."""
        match = _START.search(self.log_path.read_bytes())
        return None if match is None else log_time(match.group(1))

    def all_changes(self) -> list[OwnershipChange]:
        return [
            _change(self.number, match)
            for match in _LINE.finditer(self.log_path.read_bytes())
            if match.group(2) != b"processed"
        ]


def _change(member: int, match: re.Match[bytes]) -> OwnershipChange:
    fields = dict(_FIELD.findall(match.group(3)))
    names = fields.get(b"partitions", b"none")
    partitions = (
        frozenset() if names == b"none" else frozenset(int(n.rsplit(b"/", 1)[1]) for n in names.split(b","))
    )
    return OwnershipChange(log_time(match.group(1)), member, match.group(2).decode(), partitions)


class Fleet:
    """Starts members (newest last) and stops the newest ones, gracefully or by crash."""

    def __init__(self, consumer_args: list[str], log_dir: Path, static: bool) -> None:
        self._args = consumer_args
        self._log_dir = log_dir
        self._static = static
        self.members: list[Member] = []
        self.start_batches: list[list[int]] = []
        """Member numbers started together, per start() call."""

    @property
    def alive(self) -> list[Member]:
        return [member for member in self.members if member.alive]

    def start(self, count: int) -> None:
        self.start_batches.append(list(range(len(self.members) + 1, len(self.members) + count + 1)))
        for _ in range(count):
            number = len(self.members) + 1
            args = [*self._args, "--group-instance-id", f"member-{number}"] if self._static else self._args
            log_path = self._log_dir / f"member-{number}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "consumer", *args],
                    cwd=REPO_ROOT,
                    env=child_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self.members.append(Member(number, process, log_path, time.time()))

    def stop_newest(self, count: int, crash: bool) -> None:
        """SIGKILL (a crash: no commit, no leave) or SIGTERM (finish, commit, leave) to the
        newest `count` members, as a Deployment scales in; returns once they have exited."""
        victims = self.alive[-count:]
        for member in victims:
            member.process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            member.stopped_at = time.time()
        for member in victims:
            member.process.wait(60)

    def close(self) -> None:
        for member in self.alive:
            member.process.send_signal(signal.SIGTERM)
            member.stopped_at = time.time()
        for member in self.members:
            try:
                member.process.wait(30)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait(10)

    def refresh(self) -> float | None:
        """Reads new ownership changes of every member; returns the time of the latest one that
        moved a partition (None when nothing moved)."""
        latest = None
        for member in self.members:
            for change in member.new_changes():
                if change.partitions:
                    latest = max(latest or 0.0, change.at)
        return latest

    def owners(self) -> dict[int, int]:
        """partition -> member, for the partitions a live member owns."""
        return {partition: member.number for member in self.alive for partition in member.owned}

    def balanced(self, partitions: int) -> bool:
        """Every partition owned by exactly one live member, and every live member owns one."""
        alive = self.alive
        owned = [partition for member in alive for partition in member.owned]
        return len(owned) == len(set(owned)) == partitions and all(
            member.owned for member in alive[:partitions]
        )
