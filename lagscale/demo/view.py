"""How the local demo shows itself: a rich live screen, or one plain line per decision (--no-live)."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lagscale.demo.state import DemoSnapshot
from scaler.loop.decision import Decision

BAR_WIDTH = 40
MAX_PARTITION_ROWS = 12


def decision_line(point: Decision) -> str:
    """One decision as a line people can read: time, path, lag, metric, replicas, reason."""
    lag = "-" if point.total_lag is None else str(point.total_lag)
    metric = "-" if point.metric is None else f"{point.metric:g}"
    change = f"{point.current}->{point.desired}" if point.desired != point.current else f"{point.current}"
    return (
        f"t={point.time:6.1f}s {point.path:<4} active={'yes' if point.active else 'no ':<3} "
        f"lag={lag:>6} metric={metric:>5} replicas={change:<6} {point.reason}"
    )


class LogView:
    """--no-live: a line per decision and per phase change, nothing redrawn."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._phase = ""

    def __enter__(self) -> LogView:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def started(self, topic: str, group: str) -> None:
        print(f"topic={topic} group={group}", file=self._stream, flush=True)

    def decision(self, point: Decision) -> None:
        print(decision_line(point), file=self._stream, flush=True)

    def refresh(self, snapshot: DemoSnapshot) -> None:
        if snapshot.phase != self._phase:
            self._phase = snapshot.phase
            print(f"t={snapshot.elapsed:6.1f}s phase: {snapshot.phase}", file=self._stream, flush=True)

    def stopping(self, outcome: str) -> None:
        print(f"stopping ({outcome}): consumers, producer, topic", file=self._stream, flush=True)


class LiveView:
    """The rich screen: per-partition lag bars, the numbers the HPA uses, the latest decisions."""

    def __init__(self, title: str, console: Console | None = None) -> None:
        self._title = title
        self._console = console or Console()
        self._live = Live(Text("starting..."), console=self._console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()

    def started(self, topic: str, group: str) -> None:
        self._title = f"{self._title}  topic {topic}"

    def decision(self, point: Decision) -> None:
        """Decisions are drawn from the next snapshot; nothing to do per decision."""

    def refresh(self, snapshot: DemoSnapshot) -> None:
        self._live.update(render_snapshot(self._title, snapshot))

    def stopping(self, outcome: str) -> None:
        self._live.console.print(f"[bold]stopping ({outcome})[/]: consumers, producer, topic")


def render_snapshot(title: str, snapshot: DemoSnapshot) -> Panel:
    return Panel(
        Group(_numbers(snapshot), _partition_table(snapshot), _decision_table(snapshot)),
        title=f"{title}  [dim]t={snapshot.elapsed:.0f}s[/]",
        subtitle=snapshot.phase,
    )


def _numbers(snapshot: DemoSnapshot) -> Text:
    metric = "-" if snapshot.metric is None else f"{snapshot.metric:g}"
    members = "?" if snapshot.members is None else str(snapshot.members)
    lag = "-" if snapshot.total_lag is None else str(snapshot.total_lag)
    items = [
        f"total lag [bold]{lag}[/]",
        f"metric [bold]{metric}[/] (cap {snapshot.partitions} x {snapshot.lag_threshold})",
        f"active [bold]{'yes' if snapshot.active else 'no'}[/]",
        f"replicas desired/current [bold]{snapshot.desired}/{snapshot.current}[/]",
        f"group members [bold]{members}[/]",
        f"producer {'done' if snapshot.producer_done else 'running'}",
    ]
    return Text.from_markup("  |  ".join(items))


def _partition_table(snapshot: DemoSnapshot) -> Table:
    table = Table(title="lag per partition", title_justify="left", expand=False)
    table.add_column("partition", justify="right")
    table.add_column("lag", justify="right")
    table.add_column("", min_width=BAR_WIDTH)
    lags = list(enumerate(snapshot.partition_lags))
    biggest = max([lag for _, lag in lags] + [1])
    # Many partitions would push the decisions off the screen: show the most lagging ones.
    shown = (
        sorted(sorted(lags, key=lambda item: -item[1])[:MAX_PARTITION_ROWS])
        if len(lags) > MAX_PARTITION_ROWS
        else lags
    )
    for partition, lag in shown:
        filled = round(BAR_WIDTH * max(lag, 0) / biggest)
        table.add_row(str(partition), str(lag), "[cyan]" + "█" * filled + "[/]")
    if len(shown) < len(lags):
        table.add_row("...", "", f"[dim]{len(lags) - len(shown)} partitions with less lag not shown[/]")
    return table


def _decision_table(snapshot: DemoSnapshot) -> Table:
    table = Table(title="latest decisions", title_justify="left", expand=True)
    for column in ("t (s)", "path", "lag", "metric", "replicas"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("reason", ratio=1)
    for point in reversed(snapshot.recent):
        change = (
            f"{point.current} -> {point.desired}" if point.desired != point.current else str(point.current)
        )
        style = (
            "bold green"
            if point.desired > point.current
            else "bold yellow"
            if point.desired < point.current
            else ""
        )
        table.add_row(
            f"{point.time:.0f}",
            point.path,
            "-" if point.total_lag is None else str(point.total_lag),
            "-" if point.metric is None else f"{point.metric:g}",
            Text(change, style=style),
            point.reason,
        )
    return table
