"""Load profiles for the simulator: how many events the producer writes in each second.

Text forms (`--load`):
  constant:RATE               RATE events/s for the whole run
  steps:R1@T1,R2@T2,...       R1 events/s from second T1, R2 from T2, ... (0 before the first step)
  bursts:N@EVERY              N events at once at t=0, EVERY, 2*EVERY, ...
A CSV file (`--load-csv`) gives one rate per second: either one number per line, or
`second,rate` pairs; a header line and blank lines are ignored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kafkakit.errors import ConfigError, Problem

KINDS = ("constant", "steps", "bursts")


def _load_error(message: str) -> ConfigError:
    """The load cannot be used: `message` says what to change."""
    return ConfigError(Problem("--load", message))


@dataclass(frozen=True)
class LoadProfile:
    """A rate (events/s) per second plus instant bursts; `describe` is for tables and plots."""

    description: str
    rate_steps: tuple[tuple[int, float], ...] = ()
    """(start second, events/s) pairs in ascending start order."""
    burst_size: int = 0
    burst_every: int = 0
    per_second: tuple[float, ...] = ()
    """Explicit rate per second (CSV); past its end the rate is 0."""

    def rate_at(self, second: int) -> float:
        """Steady events/s in effect during `second` (bursts not included)."""
        if self.per_second:
            return self.per_second[second] if 0 <= second < len(self.per_second) else 0.0
        rate = 0.0
        for start, step_rate in self.rate_steps:
            if second >= start:
                rate = step_rate
        return rate

    def burst_at(self, second: int) -> int:
        if self.burst_size and self.burst_every and second >= 0 and second % self.burst_every == 0:
            return self.burst_size
        return 0

    def events(self, duration: int) -> list[int]:
        """Whole events written in each of the first `duration` seconds.

        Fractional rates are carried over, so 0.5 events/s writes one event every other second
        and the total over a run matches the rate exactly.
        """
        counts: list[int] = []
        written = 0.0
        for second in range(duration):
            written += self.rate_at(second)
            whole = math.floor(written + 1e-9)
            written -= whole
            counts.append(whole + self.burst_at(second))
        return counts

    def last_load_second(self, duration: int) -> int | None:
        """The last second (< duration) in which events are written, or None when there are none."""
        counts = self.events(duration)
        for second in range(duration - 1, -1, -1):
            if counts[second]:
                return second
        return None


def parse_load(text: str) -> LoadProfile:
    """Parse `constant:RATE`, `steps:R@T,...` or `bursts:N@EVERY`; raises ConfigError naming --load."""
    kind, separator, body = text.strip().partition(":")
    kind = kind.strip().lower()
    if not separator or kind not in KINDS:
        raise _load_error(
            f"unknown load {text!r}: use constant:RATE, steps:R1@T1,R2@T2,... or bursts:N@EVERY"
        )
    if kind == "constant":
        rate = _number(body, "constant:RATE", "RATE")
        return LoadProfile(description=f"constant {rate:g}/s", rate_steps=((0, rate),))
    if kind == "steps":
        return _parse_steps(body)
    return _parse_bursts(body)


def _parse_steps(body: str) -> LoadProfile:
    steps: list[tuple[int, float]] = []
    for item in body.split(","):
        rate_text, at, start_text = item.partition("@")
        if not at:
            raise _load_error(f"step {item.strip()!r} needs RATE@SECOND, e.g. steps:100@0,500@60")
        rate = _number(rate_text, "steps", "RATE")
        start = _whole(start_text, "steps", "SECOND")
        steps.append((start, rate))
    starts = [start for start, _ in steps]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        raise _load_error("steps must have strictly increasing start seconds, e.g. steps:100@0,500@60")
    shown = ", ".join(f"{rate:g}/s@{start}s" for start, rate in steps)
    return LoadProfile(description=f"steps {shown}", rate_steps=tuple(steps))


def _parse_bursts(body: str) -> LoadProfile:
    size_text, at, every_text = body.partition("@")
    if not at:
        raise _load_error(f"bursts needs N@EVERY, e.g. bursts:5000@120 (got {body!r})")
    size = _whole(size_text, "bursts", "N")
    every = _whole(every_text, "bursts", "EVERY")
    if every == 0:
        raise _load_error("bursts:N@EVERY needs EVERY >= 1 second")
    return LoadProfile(description=f"bursts {size} every {every}s", burst_size=size, burst_every=every)


def load_csv(path: Path) -> LoadProfile:
    """Read per-second rates from a CSV file; raises ConfigError naming --load-csv."""
    try:
        return LoadProfile(description=f"csv {path.name}", per_second=_csv_rates(_csv_rows(path), path))
    except ConfigError as error:
        raise error.renamed(lambda _: "--load-csv") from None


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as error:
        raise _load_error(f"cannot read load CSV {str(path)!r}: {error}") from None
    if rows and not _is_number(rows[0][-1]):
        rows = rows[1:]  # header
    if not rows:
        raise _load_error(f"load CSV {str(path)!r} has no rows: write one events/s value per line")
    return rows


def _csv_rates(rows: Sequence[Sequence[str]], path: Path) -> tuple[float, ...]:
    where = f"load CSV {str(path)!r}"
    if all(len(row) == 1 for row in rows):
        return tuple(_number(row[0], where, f"line {index + 1}") for index, row in enumerate(rows))
    rates: dict[int, float] = {}
    for index, row in enumerate(rows):
        if len(row) != 2:
            raise _load_error(f"{where}: row {index + 1} must be `rate` or `second,rate`")
        rates[_whole(row[0], where, "second")] = _number(row[1], where, "rate")
    return tuple(rates.get(second, 0.0) for second in range(max(rates) + 1))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, where: str, name: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise _load_error(f"{where}: {name} must be a number, got {text.strip()!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _load_error(f"{where}: {name} must be a finite number >= 0, got {text.strip()!r}")
    return value


def _whole(text: str, where: str, name: str) -> int:
    value = _number(text, where, name)
    if value != int(value):
        raise _load_error(f"{where}: {name} must be a whole number, got {text.strip()!r}")
    return int(value)
