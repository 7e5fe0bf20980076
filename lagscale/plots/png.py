"""Timeline plots: a PNG (matplotlib, Agg backend) and a self-contained HTML page (inline SVG).

Three panels share the time axis: lag, the metric the HPA sees, and replicas. One timeline is a
single run (with per-partition lag and each decision marked); several are runs to compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lagscale.plots.html import render_html
from lagscale.timeline import Timeline

__all__ = ["PlotError", "check_output_path", "write_html", "write_png"]

# Colour-blind-safe palette (Okabe-Ito), shared with the HTML page.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MAX_PARTITION_BANDS = 16


class PlotError(RuntimeError):
    """The plot cannot be written (matplotlib missing, or the path is not writable)."""


def check_output_path(path: Path) -> None:
    """A plot goes into an existing directory: a typo in the path is an error, not a new tree."""
    if path.is_dir():
        raise PlotError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    if not path.parent.is_dir():
        problem = "is not a directory" if path.parent.exists() else "does not exist; create it first"
        raise PlotError(f"cannot write {str(path)!r}: {str(path.parent)!r} {problem}")


def write_png(timelines: Sequence[Timeline], path: Path, title: str = "") -> Path:
    """Draw the timelines into a PNG at `path` (its directory must exist); returns the path."""
    check_output_path(path)
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, loaded only when plotting

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: PLC0415
    except ImportError:
        raise PlotError("PNG plots need matplotlib: pip install 'lagscale[plots]'") from None
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
        raise PlotError(f"cannot write {str(path)!r}: {error.strerror or error}") from None
    finally:
        pyplot.close(figure)
    return path


def write_html(timelines: Sequence[Timeline], path: Path, title: str = "") -> Path:
    """Write one HTML file with inline SVG charts and the decision log; no external resources.
    Its directory must exist."""
    check_output_path(path)
    try:
        path.write_text(render_html(timelines, title, PALETTE), encoding="utf-8")
    except OSError as error:
        raise PlotError(f"cannot write {str(path)!r}: {error.strerror or error}") from None
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
