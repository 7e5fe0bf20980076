"""The markdown section bench_simulate.py writes into docs/simulate.md: per scenario, every real
run beside its replay, the real runs' median and spread, and the prediction."""

from __future__ import annotations

from simulate_compare import GOAL, Comparison, Outcome


def _path(outcome: Outcome) -> str:
    return " → ".join(str(count) for count in outcome.path)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.0f} %"


def _drain(outcome: Outcome) -> str:
    return "never" if outcome.drain is None else f"{outcome.drain:g}"


def scenario_table(comparison: Comparison) -> list[str]:
    rows = [
        f"**{comparison.name}**: {comparison.description}",
        "",
        "| run | drain s | replica-s | replica counts | s per event | replay: drain s | replay: replica-s "
        "| replay: same counts |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    runs = zip(comparison.real, comparison.replays, comparison.event_times, strict=True)
    for index, (real, replay, event_time) in enumerate(runs, start=1):
        same = "yes" if replay.path == real.path else f"no: {_path(replay)}"
        speed = "-" if event_time is None else f"{event_time:.4f}"
        rows.append(
            f"| real {index} | {_drain(real)} | {real.replica_seconds:g} | {_path(real)} | {speed} | "
            f"{_drain(replay)} | {replay.replica_seconds:g} | {same} |"
        )
    paths = comparison.paths()
    rows.append(
        f"| real: median (spread) | {comparison.real_drain:g} (±{comparison.drain_spread() * 100:.0f} %) | "
        f"{comparison.real_replica_seconds:g} (±{comparison.replica_seconds_spread() * 100:.0f} %) | "
        f"{len(paths)} different in {len(comparison.real)} runs | | | | |"
    )
    drain, seconds = comparison.predicted_errors()
    predicted = comparison.predicted
    matches = paths.get(predicted.path, 0)
    rows.append(
        f"| **simulate** | {_drain(predicted)} ({_percent(drain)}) | {predicted.replica_seconds:g} "
        f"({_percent(seconds)}) | {_path(predicted)} (as {matches} of {len(comparison.real)} real runs) "
        f"| {comparison.model_event_time:.4f} | | | |"
    )
    met = "met" if comparison.goal_met() else "NOT met"
    rows += [
        "",
        f"Goal (drain and replica-seconds within {GOAL * 100:.0f} % of the real median, replica counts "
        f"as in a real run): {met}.",
        "",
    ]
    return rows


def markdown(comparisons: list[Comparison], header: list[str]) -> str:
    lines = [*header, ""]
    for comparison in comparisons:
        lines += scenario_table(comparison)
    return "\n".join(lines) + "\n"
