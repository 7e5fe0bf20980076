"""The markdown section bench_rebalance.py writes into docs/benchmarks.md: a summary per
configuration, which configurations meet the goal, and every step."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

from rebalance_metrics import StepCost
from simulator_model import model_table

# The goal for the default protocol: graceful steps without duplicates and a group pause < 1 s.
PAUSE_GOAL_S = 1.0

Results = dict[str, list[StepCost]]


@dataclass(frozen=True)
class Setup:
    command: str
    partitions: int
    rate: float
    process_time: float
    settle: float
    load_average: tuple[float, float]  # before, after


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def _worst(costs: list[StepCost], attribute: str) -> float:
    return max(getattr(cost, attribute) for cost in costs)


def _slowest(costs: list[StepCost]) -> str:
    if not costs:
        return "-"
    times = [cost.stable_after for cost in costs]
    return "not stable" if None in times else f"{max(t for t in times if t is not None):.1f}"


def _times(anchor: float, value: float) -> str:
    return f"{anchor / max(value, 1e-3):.1f}x"


def _graceful_cells(costs: list[StepCost], base: list[StepCost] | None) -> str:
    if not costs:
        return "- | - | - | - | - | -"
    idle = sum(c.idle for c in costs)
    ratio = "-"
    if base:
        ratio = "anchor" if costs is base else f"{_times(sum(c.idle for c in base), idle)} less"
    group, survivor = _ms(_worst(costs, "group_pause")), _ms(_worst(costs, "survivor_pause"))
    revoked, duplicates = sum(c.revoked for c in costs), sum(c.duplicates for c in costs)
    return f"{group} | {survivor} | {idle:.1f} | {ratio} | {revoked} | {duplicates}"


def summary(graceful: Results, crash: Results, anchor: str) -> list[str]:
    rows = [
        "| configuration | worst group pause ms | worst survivor pause ms | idle member-s | idle vs "
        "eager range | revoked from survivors | duplicates graceful | duplicates crash | slowest "
        "stable s (graceful / crash) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = graceful.get(anchor)
    for name in dict.fromkeys([*graceful, *crash]):
        costs, crashed = graceful.get(name, []), crash.get(name, [])
        crash_duplicates = sum(c.duplicates for c in crashed) if crashed else "-"
        rows.append(
            f"| {name} | {_graceful_cells(costs, base)} | {crash_duplicates} | "
            f"{_slowest(costs)} / {_slowest(crashed)} |"
        )
    return rows


def verdicts(graceful: Results, anchor: str) -> list[str]:
    """Which configurations meet the goal, and by how much they beat eager range."""
    base = graceful.get(anchor)
    lines = []
    for name, costs in graceful.items():
        if costs is base:
            continue
        pause, duplicates = _worst(costs, "group_pause"), sum(c.duplicates for c in costs)
        met = duplicates == 0 and pause < PAUSE_GOAL_S
        line = f"- {name}: {duplicates} duplicates, worst group pause {_ms(pause)} ms (graceful steps)"
        if base:
            idle = _times(sum(c.idle for c in base), sum(c.idle for c in costs))
            survivor = _times(_worst(base, "survivor_pause"), _worst(costs, "survivor_pause"))
            revoked = f"{sum(c.revoked for c in base)} → {sum(c.revoked for c in costs)}"
            line += (
                f"; vs eager range: {idle} less idle member time, worst survivor pause {survivor} "
                f"shorter, partitions revoked from members that stay {revoked}"
            )
        lines.append(f"{line}. Goal (0 duplicates, group pause < 1 s): {'met' if met else 'NOT met'}.")
    return lines


def step_table(results: Results) -> list[str]:
    rows = [
        "| configuration | step | group pause ms | survivor pause ms | idle member-s | moved | revoked "
        "from survivors | duplicates | stable after s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, costs in results.items():
        for cost in costs:
            stable = "not stable" if cost.stable_after is None else f"{cost.stable_after:.1f}"
            rows.append(
                f"| {name} | {cost.label} | {_ms(cost.group_pause)} | {_ms(cost.survivor_pause)} | "
                f"{cost.idle:.1f} | {cost.moved} | {cost.revoked} | {cost.duplicates} | {stable} |"
            )
    return rows


def markdown(
    graceful: Results, crash: Results, setup: Setup, anchor: str, model: dict[str, Any] | None = None
) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        "## Rebalances while scaling",
        "",
        f"Command: `{setup.command}`",
        "",
        f"Machine: {machine}, local Kafka 4.1 broker (KRaft) on loopback, confluent-kafka / librdkafka "
        f"2.16; load average {setup.load_average[0]:.1f} before, {setup.load_average[1]:.1f} after (other "
        f"work shares the machine). Topic of {setup.partitions} partitions; a producer at "
        f"{setup.rate:g} events/s, more than six members process ({setup.process_time * 1000:g} ms of work "
        "per event), so every member always has work, as when an autoscaler adds consumers because of "
        "lag. Default timeouts: session 45 s (librdkafka for classic, the broker for the consumer "
        "protocol), heartbeat 3 s (classic) / 5 s (broker). Between steps the ownership was stable for "
        f"{setup.settle:g} s. A step starts when processes are started or signalled, so 'stable after' "
        "includes a new member's start-up (about 1 s). Definitions: bench/rebalance_metrics.py.",
        "",
        "Summary (graceful: 1 → 2 → 4 → 6 → 3 → 1 with SIGTERM; crash: 6 → 3 → 1 with SIGKILL):",
        "",
        *summary(graceful, crash, anchor),
        "",
        *verdicts(graceful, anchor),
        "",
    ]
    if graceful:
        lines += ["Graceful steps (SIGTERM):", "", *step_table(graceful), ""]
    if crash:
        lines += ["Crash steps (SIGKILL):", "", *step_table(crash), ""]
    if model:
        lines += [
            "Timings for `lagscale simulate` (lagscale/simulate/measured.json, from the same members' "
            "logs: medians, with the number of cases; definitions in bench/rebalance_params.py; "
            "heartbeat intervals are the clients' and broker's configuration):",
            "",
            *model_table(model),
            "",
        ]
    return "\n".join(lines) + "\n"
