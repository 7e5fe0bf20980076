"""Timeline plots as an image (matplotlib, Agg backend; PNG, or SVG/PDF by the file name).

Three panels share the time axis: lag, the metric the HPA sees, and replicas. One timeline is a
single run (with per-partition lag and each decision marked); several are runs to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkakit.errors import SetupError
from lagscale.plots.files import check_plot_path, write_failed
from lagscale.plots.html import PALETTE
from lagscale.timeline import Timeline

MAX_PARTITION_BANDS = 16
INSTALL_HINT = (
    "plots need matplotlib: pip install matplotlib (lagscale depends on it; --no-deps leaves it out)"
)


def require_matplotlib() -> None:
    """Fail before a run, not after it, when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: PLC0415 F401 - heavy; loaded only when plotting
    except ImportError as error:
        raise SetupError(f"{INSTALL_HINT} ({error})") from None


def write_png(timelines: Sequence[Timeline], path: Path, title: str = "", *, flag: str = "--plot") -> Path:
    """Draw the timelines into an image at `path` (its directory must exist); returns the path."""
    check_plot_path(path, flag)
    require_matplotlib()
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, (lag_axis, metric_axis, replica_axis) = pyplot.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2.4]}
    )
    try:
        single = len(timelines) == 1
        for index, timeline in enumerate(timelines):
            style = _Style(
                color=PALETTE[index % len(PALETTE)],
                prefix="" if single else f"{timeline.label}: ",
                # Compared runs often overlap: earlier runs are drawn thicker so later ones show on top.
                width=2.0 if single else 1.4 + 1.3 * (len(timelines) - 1 - index),
            )
            _draw_lag(lag_axis, timeline, style, single)
            _draw_metric(metric_axis, timeline, style, single)
            _draw_replicas(replica_axis, timeline, style, single)
        _decorate(figure, (lag_axis, metric_axis, replica_axis), timelines, title)
        figure.savefig(path, dpi=110)
    except OSError as error:
        raise write_failed(path, flag, error) from None
    finally:
        pyplot.close(figure)
    return path


@dataclass(frozen=True)
class _Style:
    color: str
    prefix: str
    width: float


def _times(timeline: Timeline) -> list[float]:
    return [sample.time for sample in timeline.samples]


def _draw_lag(axis: Any, timeline: Timeline, style: _Style, single: bool) -> None:
    times = _times(timeline)
    rows = [sample.partition_lags for sample in timeline.samples]
    width = len(rows[0]) if rows else 0
    if single and 0 < width <= MAX_PARTITION_BANDS and all(len(row) == width for row in rows):
        bands = [[max(row[partition], 0) for row in rows] for partition in range(width)]
        labels = ["per-partition lag (stacked)", *["_nolegend_"] * (width - 1)]
        axis.stackplot(times, *bands, step="post", alpha=0.35, linewidth=0, labels=labels)
    lags = [sample.total_lag for sample in timeline.samples]
    axis.step(
        times, lags, where="post", color=style.color, linewidth=style.width, label=f"{style.prefix}total lag"
    )


def _draw_metric(axis: Any, timeline: Timeline, style: _Style, single: bool) -> None:
    points = [(s.time, s.metric) for s in timeline.samples if s.metric is not None]
    if points:
        times, metrics = zip(*points, strict=True)
        axis.step(
            times,
            metrics,
            where="post",
            color=style.color,
            linewidth=style.width,
            label=f"{style.prefix}metric",
        )
    if single and timeline.samples:
        capacity = [s.current * timeline.lag_threshold for s in timeline.samples]
        axis.step(
            _times(timeline),
            capacity,
            where="post",
            color="grey",
            linestyle="--",
            linewidth=1,
            label="lagThreshold x replicas",
        )


def _draw_replicas(axis: Any, timeline: Timeline, style: _Style, single: bool) -> None:
    times = _times(timeline)
    axis.step(
        times,
        [s.current for s in timeline.samples],
        where="post",
        color=style.color,
        linewidth=style.width,
        label=f"{style.prefix}replicas",
    )
    if single:
        axis.step(
            times,
            [s.ready for s in timeline.samples],
            where="post",
            color="black",
            linestyle=":",
            linewidth=1.2,
            label="consuming",
        )
        changes = [d for d in timeline.decisions if d.desired != d.current]
        if changes:
            axis.scatter(
                [d.time for d in changes],
                [d.desired for d in changes],
                s=22,
                color="black",
                zorder=5,
                label="scaling decision",
            )


def _decorate(figure: Any, axes: tuple[Any, Any, Any], timelines: Sequence[Timeline], title: str) -> None:
    lag_axis, metric_axis, replica_axis = axes
    partitions = max(t.partitions for t in timelines) if timelines else 0
    if partitions:
        replica_axis.axhline(
            partitions, color="firebrick", linewidth=0.9, linestyle="--", label=f"partitions ({partitions})"
        )
    lag_axis.set_ylabel("lag (events)")
    metric_axis.set_ylabel("metric")
    replica_axis.set_ylabel("replicas")
    replica_axis.set_xlabel("time (s)")
    replica_axis.set_ylim(
        bottom=0, top=max(partitions, *(s.current for t in timelines for s in t.samples), 1) * 1.15
    )
    for axis in axes:
        axis.grid(True, alpha=0.3)
        handles, labels = axis.get_legend_handles_labels()
        if handles:
            axis.legend(handles[-8:], labels[-8:], loc="best", fontsize=8, framealpha=0.85)
    heading = title or ", ".join(t.label for t in timelines)
    figure.suptitle(heading, fontsize=12)
    figure.tight_layout()
