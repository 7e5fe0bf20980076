"""The table and plot of bench_keda_simulate.py: the real KEDA + HPA loop's replica changes beside
the simulation's, change by change."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from lab.loop_timing import replica_changes

Change = tuple[float, int]


def real_changes(run: dict[str, Any]) -> list[Change]:
    return replica_changes(run)


def simulated_changes(simulated: dict[str, Any]) -> list[Change]:
    return [(float(at), int(replicas)) for at, replicas in simulated["runs"][0]["replica_changes"]]


def _path(changes: list[Change]) -> list[int]:
    return [0, *(replicas for _, replicas in changes)]


def verdict(real: list[Change], model: list[Change], tolerance: float) -> tuple[bool, float | None]:
    """(same sequence of replica counts, the largest time difference of matching changes)."""
    same = _path(real) == _path(model)
    gaps = [abs(m[0] - r[0]) for r, m in zip(real, model, strict=False)]
    return same, (max(gaps) if gaps else None)


def markdown(runs: list[dict[str, Any]], simulated: dict[str, Any], context: dict[str, Any]) -> str:
    settings = context["settings"]
    tolerance = settings.polling_interval + context["hpa_sync_period"]
    reals = [real_changes(run) for run in runs]
    model = simulated_changes(simulated)
    header = ["change", *(f"real {i}" for i in range(1, len(runs) + 1)), "simulate"]
    rows = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for index in range(max(len(model), *(len(changes) for changes in reals))):
        cells = [str(index + 1)]
        for changes in (*reals, model):
            if index < len(changes):
                before = changes[index - 1][1] if index else 0
                cells.append(f"{before} → {changes[index][1]} at {changes[index][0]:.1f} s")
            else:
                cells.append("-")
        rows.append("| " + " | ".join(cells) + " |")
    verdicts = []
    for number, changes in enumerate(reals, start=1):
        same, gap = verdict(changes, model, tolerance)
        met = same and gap is not None and gap <= tolerance
        shown = "-" if gap is None else f"{gap:.1f} s"
        verdicts.append(
            f"- real {number}: same sequence of replica counts: {'yes' if same else 'no'}; largest time "
            f"difference {shown} (goal: within {tolerance:g} s = pollingInterval + HPA sync period): "
            f"{'met' if met else 'NOT met'}."
        )
    starts = ", ".join(f"{value:g}" for value in context["pod_starts"])
    lines = [
        "## `lagscale simulate` against the real KEDA + HPA loop",
        "",
        f"Command: `{context['command']}`. Machine: {context['machine']}.",
        "",
        f"The lab (docs/keda-loop.md): KEDA 2.20.2 operator and metrics adapter, kube-controller-manager's "
        f"HPA controller (sync period {context['hpa_sync_period']} s, downscale stabilisation "
        f"{context['stabilization']} s, tolerance 0.1), real `lagscale consume` processes behind the pods. "
        f"The load and settings of tests/e2e/test_keda_loop.py: the rendered `kafka` profile, "
        f"{settings.partitions} partitions, a burst of {settings.events} events (`lagscale produce --rate 0 "
        f"--key sequence`), {settings.process_time:g} s per event, pollingInterval "
        f"{settings.polling_interval} s, cooldownPeriod {settings.cooldown_period} s, lagThreshold 10. "
        "Times are seconds after the burst started.",
        "",
        f"The simulation: `{' '.join(simulated['argv'])}`: the rendered ScaledObject itself, the lab's HPA "
        f"settings, and the lab's pod start (from the Deployment's 0 → 1 to the consumer's `start` line: "
        f"{starts} s in the real runs; their median is given).",
        "",
        *rows,
        "",
        *verdicts,
        "",
        "![replicas over time: the real KEDA + HPA runs and lagscale simulate](img/simulate-keda-loop.png)",
        "",
    ]
    return "\n".join(lines) + "\n"


def plot(runs: list[dict[str, Any]], simulated: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(9, 4))
    colours = itertools.cycle(["#7a9cc6", "#9bc67a", "#c69b7a", "#b07ac6", "#c6c27a"])
    end = max(
        [*(c[0] for run in runs for c in real_changes(run)), *(c[0] for c in simulated_changes(simulated))]
    )
    for number, run in enumerate(runs, start=1):
        changes = [(0.0, 0), *real_changes(run), (end + 5, real_changes(run)[-1][1])]
        axes.step([c[0] for c in changes], [c[1] for c in changes], where="post", color=next(colours),
                  linewidth=1.5, alpha=0.8, label=f"real KEDA + HPA, run {number}")  # fmt: skip
    model = [(0.0, 0), *simulated_changes(simulated), (end + 5, simulated_changes(simulated)[-1][1])]
    axes.step([c[0] for c in model], [c[1] for c in model], where="post", color="black", linewidth=2.2,
              linestyle="--", label="lagscale simulate")  # fmt: skip
    axes.set_xlabel("seconds after the burst")
    axes.set_ylabel("replicas (Deployment spec)")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Replicas over time: the real KEDA + HPA loop and lagscale simulate")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
