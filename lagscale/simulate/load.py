"""Load profiles for the simulator: how many events the producer writes, and when.

Text forms (`--load`), which `+` adds together (e.g. `burst:2400@0+steps:20@0,0@20`, the local
demo's load: a burst, then 20 events/s for 20 s):
  constant:RATE               RATE events/s for the whole run
  steps:R1@T1,R2@T2,...       R1 events/s from second T1, R2 from T2, ... (0 before the first step)
  bursts:N@EVERY              N events at once at t=0, EVERY, 2*EVERY, ...
  burst:N1@T1,N2@T2,...       N1 events at once at second T1, N2 at T2, ... (each once)
Seconds may have decimals (steps and single bursts). A CSV file (`--load-csv`) gives one rate per
second: either one number per line, or `second,rate` pairs; a header line and blank lines are ignored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kafkakit.errors import ConfigError, Problem

KINDS = ("constant", "steps", "bursts", "burst")


def _load_error(message: str) -> ConfigError:
    """The load cannot be used: `message` says what to change."""
    return ConfigError(Problem("--load", message))


@dataclass(frozen=True)
class LoadProfile:
    """Rates (events/s) that hold over spans of time, plus events that arrive at once; the parts
    of a `+` sum simply add up. `description` is for tables and plots."""

    description: str
    rate_steps: tuple[tuple[tuple[float, float], ...], ...] = ()
    """One tuple of (start second, events/s) pairs, ascending, per `steps`/`constant` part."""
    periodic_bursts: tuple[tuple[int, int], ...] = ()
    """(N, EVERY) per `bursts` part."""
    single_bursts: tuple[tuple[float, int], ...] = ()
    """(second, N) of every `burst` part."""
    per_second: tuple[float, ...] = ()
    """Explicit rate per second (CSV); past its end the rate is 0."""

    def __add__(self, other: LoadProfile) -> LoadProfile:
        if self.per_second and other.per_second:
            raise _load_error("only one CSV load can be part of a sum")
        return LoadProfile(
            description=f"{self.description} + {other.description}",
            rate_steps=self.rate_steps + other.rate_steps,
            periodic_bursts=self.periodic_bursts + other.periodic_bursts,
            single_bursts=self.single_bursts + other.single_bursts,
            per_second=self.per_second or other.per_second,
        )

    def expected_between(self, start: float, end: float) -> float:
        """Events written in [start, end): steady rates integrated, bursts counted whole."""
        total = sum(_integrate(steps, start, end) for steps in self.rate_steps)
        if self.per_second:
            steps = tuple((float(second), rate) for second, rate in enumerate(self.per_second))
            total += _integrate((*steps, (float(len(self.per_second)), 0.0)), start, end)
        for size, every in self.periodic_bursts:
            first = max(0, math.ceil(start / every - 1e-9))
            total += size * sum(1 for n in range(first, math.ceil(end / every)) if start <= n * every < end)
        total += sum(size for at, size in self.single_bursts if start <= at < end)
        return total

    def events(self, duration: int, step: float = 1.0) -> list[int]:
        """Whole events written in each `step` of the first `duration` seconds.

        Fractions are carried over, so 0.5 events/s writes one event every other second and the
        total over a run matches the rate exactly.
        """
        counts: list[int] = []
        carry = 0.0
        steps = round(duration / step)
        for index in range(steps):
            carry += self.expected_between(index * step, (index + 1) * step)
            whole = math.floor(carry + 1e-9)
            carry -= whole
            counts.append(whole)
        return counts

    def last_load_second(self, duration: int) -> int | None:
        """The last second (< duration) in which events are written, or None when there are none."""
        counts = self.events(duration)
        for second in range(duration - 1, -1, -1):
            if counts[second]:
                return second
        return None


def _integrate(steps: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Events of a piecewise-constant rate over [start, end)."""
    total = 0.0
    for index, (step_start, rate) in enumerate(steps):
        step_end = steps[index + 1][0] if index + 1 < len(steps) else math.inf
        overlap = min(end, step_end) - max(start, step_start)
        if overlap > 0:
            total += rate * overlap
    return total


def parse_load(text: str) -> LoadProfile:
    """Parse a load (parts joined by `+`); raises ConfigError naming --load."""
    parts = text.split("+")
    if any(not part.strip() for part in parts):
        raise _load_error(f"empty part in {text!r}: join loads with +, e.g. burst:2400@0+constant:20")
    profile = _parse_part(parts[0])
    for part in parts[1:]:
        profile = profile + _parse_part(part)
    return profile


def _parse_part(text: str) -> LoadProfile:
    kind, separator, body = text.strip().partition(":")
    kind = kind.strip().lower()
    if not separator or kind not in KINDS:
        raise _load_error(
            f"unknown load {text.strip()!r}: use constant:RATE, steps:R1@T1,R2@T2,..., bursts:N@EVERY "
            "or burst:N@SECOND,... (parts joined by +)"
        )
    if kind == "constant":
        rate = _number(body, "constant:RATE", "RATE")
        return LoadProfile(description=f"constant {rate:g}/s", rate_steps=(((0.0, rate),),))
    if kind == "steps":
        return _parse_steps(body)
    if kind == "burst":
        return _parse_single_bursts(body)
    return _parse_bursts(body)


def _pairs(body: str, kind: str, shape: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for item in body.split(","):
        left, at, right = item.partition("@")
        if not at:
            raise _load_error(f"{kind} item {item.strip()!r} needs {shape}, e.g. {kind}:{example}")
        pairs.append((left, right))
    return pairs


def _parse_steps(body: str) -> LoadProfile:
    steps = [
        (_number(start, "steps", "SECOND"), _number(rate, "steps", "RATE"))
        for rate, start in _pairs(body, "steps", "RATE@SECOND", "100@0,500@60")
    ]
    starts = [start for start, _ in steps]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        raise _load_error("steps must have strictly increasing start seconds, e.g. steps:100@0,500@60")
    shown = ", ".join(f"{rate:g}/s@{start:g}s" for start, rate in steps)
    return LoadProfile(description=f"steps {shown}", rate_steps=(tuple(steps),))


def _parse_single_bursts(body: str) -> LoadProfile:
    bursts = tuple(
        (_number(at, "burst", "SECOND"), _whole(size, "burst", "N"))
        for size, at in _pairs(body, "burst", "N@SECOND", "2400@0,1200@60")
    )
    shown = ", ".join(f"{size} at {at:g}s" for at, size in bursts)
    return LoadProfile(description=f"burst {shown}", single_bursts=bursts)


def _parse_bursts(body: str) -> LoadProfile:
    size_text, at, every_text = body.partition("@")
    if not at:
        raise _load_error(f"bursts needs N@EVERY, e.g. bursts:5000@120 (got {body!r})")
    size = _whole(size_text, "bursts", "N")
    every = _whole(every_text, "bursts", "EVERY")
    if every == 0:
        raise _load_error("bursts:N@EVERY needs EVERY >= 1 second")
    return LoadProfile(description=f"bursts {size} every {every}s", periodic_bursts=((size, every),))


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
