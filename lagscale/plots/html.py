"""The timeline as one self-contained HTML page: inline SVG charts, a hover read-out, the decisions.

No CDN, no external file: the page works offline and can be attached to a ticket as is.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lagscale.plots.files import check_output_path, write_failed
from lagscale.timeline import Sample, Timeline
from scaler.loop.decision import Decision

# Colour-blind-safe palette (Okabe-Ito), shared with the image plots.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
WIDTH, PANEL_HEIGHT = 960, 210
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 26
MAX_DECISION_ROWS = 400

_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
svg{display:block;background:#fff} .axis{stroke:#999;stroke-width:1} .grid{stroke:#eee}
text{font-size:11px;fill:#555} .panel-title{font-size:12px;fill:#222;font-weight:600}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td.reason{text-align:left} #readout{font:12px monospace;white-space:pre;min-height:3.6em;color:#333}
.legend span{display:inline-block;margin-right:16px} .swatch{display:inline-block;width:18px;height:3px;
vertical-align:middle;margin-right:4px}
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('timeline-data').textContent);
const readout = document.getElementById('readout');
function nearest(samples, t){let best=null;for(const s of samples){if(s[0]<=t)best=s;else break;}return best;}
document.querySelectorAll('svg.panel').forEach(svg => {
  const cursor = svg.querySelector('.cursor');
  svg.addEventListener('mousemove', ev => {
    const box = svg.getBoundingClientRect();
    const x = (ev.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
    const t = data.t0 + (x - data.left) / data.scale;
    document.querySelectorAll('.cursor').forEach(c => {c.setAttribute('x1', x); c.setAttribute('x2', x);});
    const lines = [`t = ${t.toFixed(1)} s`];
    for (const run of data.runs) {
      const s = nearest(run.samples, t);
      if (s) lines.push(`${run.label}: lag ${s[1]}  metric ${s[2] ?? '-'}  replicas ${s[3]}  ready ${s[4]}`);
    }
    readout.textContent = lines.join('\\n');
  });
});
"""


def write_html(timelines: Sequence[Timeline], path: Path, title: str = "", *, flag: str = "--html") -> Path:
    """Write one HTML file with inline SVG charts and the decision log; no external resources.
    Its directory must exist."""
    check_output_path(path, flag)
    try:
        path.write_text(render_html(timelines, title, PALETTE), encoding="utf-8")
    except OSError as error:
        raise write_failed(path, flag, error) from None
    return path


def render_html(timelines: Sequence[Timeline], title: str, palette: Sequence[str]) -> str:
    heading = html.escape(title or ", ".join(t.label for t in timelines))
    t0, t1 = _time_range(timelines)
    scale = (WIDTH - LEFT - RIGHT) / max(t1 - t0, 1e-9)
    frame: dict[str, Any] = {"palette": palette, "t0": t0, "scale": scale}
    panels = [
        _panel("lag (events)", timelines, **frame, value_of=lambda s: s.total_lag),
        _panel("metric (what the HPA sees)", timelines, **frame, value_of=lambda s: s.metric),
        _panel(
            "replicas asked for", timelines, **frame, value_of=lambda s: s.current, reference=_cap(timelines)
        ),
    ]
    payload = {
        "t0": t0,
        "left": LEFT,
        "scale": scale,
        "runs": [
            {
                "label": t.label,
                "samples": [[s.time, s.total_lag, s.metric, s.current, s.ready] for s in t.samples],
            }
            for t in timelines
        ],
    }
    data_json = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{heading}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{heading}</h1>",
            _legend(timelines, palette),
            *panels,
            '<div id="readout">move the mouse over a chart</div>',
            "<h2>Summary</h2>",
            _summary_table(timelines),
            *(_decision_table(t, len(timelines) > 1) for t in timelines),
            f'<script type="application/json" id="timeline-data">{data_json}</script>',
            f"<script>{_SCRIPT}</script>",
            "</body></html>",
        ]
    )


def _time_range(timelines: Sequence[Timeline]) -> tuple[float, float]:
    times = [s.time for t in timelines for s in t.samples]
    return (min(times), max(times)) if times else (0.0, 1.0)


def _cap(timelines: Sequence[Timeline]) -> int | None:
    return max((t.partitions for t in timelines), default=None)


def _panel(
    name: str,
    timelines: Sequence[Timeline],
    *,
    palette: Sequence[str],
    t0: float,
    scale: float,
    value_of: Callable[[Sample], float | None],
    reference: int | None = None,
) -> str:
    values = [v for t in timelines for s in t.samples if (v := value_of(s)) is not None]
    top = max([*values, reference or 0, 1]) * 1.1
    plot_height = PANEL_HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - value / top)

    parts = [f'<svg class="panel" viewBox="0 0 {WIDTH} {PANEL_HEIGHT}" role="img" aria-label="{name}">']
    parts.extend(_y_axis(top, y_of))
    parts.extend(_x_axis(t0, scale, timelines))
    if reference:
        y = y_of(reference)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="firebrick" '
            f'stroke-dasharray="5 4"/><text x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" '
            f'text-anchor="end" fill="firebrick">partitions ({reference})</text>'
        )
    for index, timeline in enumerate(timelines):
        points = [(s.time, v) for s in timeline.samples if (v := value_of(s)) is not None]
        path = _step_path(points, lambda t: LEFT + (t - t0) * scale, y_of)
        color = palette[index % len(palette)]
        width = 2.0 + 1.5 * (len(timelines) - 1 - index)  # earlier runs wider, so overlaps stay visible
        parts.append(
            f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{width:g}" opacity="0.9"/>'
        )
    parts.append(f'<text class="panel-title" x="{LEFT + 6}" y="{TOP + 12}">{html.escape(name)}</text>')
    parts.append(
        f'<line class="cursor" x1="-1" x2="-1" y1="{TOP}" y2="{PANEL_HEIGHT - BOTTOM}" stroke="#888"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _step_path(
    points: Sequence[tuple[float, float]], x_of: Callable[[float], float], y_of: Callable[[float], float]
) -> str:
    if not points:
        return ""
    # Only value changes need a vertex in a step line; this keeps long runs' pages small.
    points = [p for i, p in enumerate(points) if i in (0, len(points) - 1) or p[1] != points[i - 1][1]]
    commands = [f"M{x_of(points[0][0]):.1f},{y_of(points[0][1]):.1f}"]
    for (_, previous), (time, value) in itertools.pairwise(points):
        x = x_of(time)
        commands.append(f"L{x:.1f},{y_of(previous):.1f}L{x:.1f},{y_of(value):.1f}")
    return "".join(commands)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to `top` (1, 2 or 5 times a power of ten apart)."""
    if top <= 0:
        return [0.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [index * step for index in range(int(top / step) + 1)]


def _y_axis(top: float, y_of: Callable[[float], float]) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{PANEL_HEIGHT - BOTTOM}"/>']
    for tick in nice_ticks(top):
        y = y_of(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    return parts


def _x_axis(t0: float, scale: float, timelines: Sequence[Timeline]) -> list[str]:
    _, t1 = _time_range(timelines)
    base = PANEL_HEIGHT - BOTTOM
    parts = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>']
    for tick in nice_ticks(t1 - t0, 10):
        x = LEFT + tick * scale
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{t0 + tick:g}s</text>')
    return parts


def _legend(timelines: Sequence[Timeline], palette: Sequence[str]) -> str:
    items = [
        f'<span><i class="swatch" style="background:{palette[index % len(palette)]}"></i>'
        f"{html.escape(timeline.label)}</span>"
        for index, timeline in enumerate(timelines)
    ]
    return f'<p class="legend">{"".join(items)}</p>'


def _summary_table(timelines: Sequence[Timeline]) -> str:
    header = ("run", "peak lag", "drain (s)", "replica-seconds", "scaling events", "max replicas", "final")
    rows = []
    for timeline in timelines:
        summary = timeline.summary()
        drain = "never" if summary.drain_seconds is None else f"{summary.drain_seconds:g}"
        cells = (
            summary.label,
            summary.peak_lag,
            drain,
            f"{summary.replica_seconds:g}",
            summary.scaling_events,
            summary.max_replicas_seen,
            summary.final_replicas,
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _decision_table(timeline: Timeline, with_label: bool) -> str:
    shown = _interesting(timeline.decisions)[:MAX_DECISION_ROWS]
    title = f"Decisions: {html.escape(timeline.label)}" if with_label else "Decisions"
    head = (
        "<tr><th>t (s)</th><th>path</th><th>active</th><th>lag</th><th>metric</th><th>replicas</th>"
        "<th>reason</th></tr>"
    )
    rows = [
        f"<tr><td>{d.time:g}</td><td>{d.path}</td><td>{'yes' if d.active else 'no'}</td>"
        f"<td>{_dash(d.total_lag)}</td><td>{_dash(d.metric)}</td><td>{d.current} &rarr; {d.desired}</td>"
        f'<td class="reason">{html.escape(d.reason)}</td></tr>'
        for d in shown
    ]
    note = "" if len(shown) == len(timeline.decisions) else "<p>(polls that changed nothing are left out)</p>"
    return f"<h2>{title}</h2>{note}<table>{head}{''.join(rows)}</table>"


def _dash(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _interesting(decisions: Sequence[Decision]) -> list[Decision]:
    """Polls that scaled, or whose reason differs from the poll before."""
    kept: list[Decision] = []
    previous_reason = None
    for decision in decisions:
        if decision.desired != decision.current or decision.reason != previous_reason:
            kept.append(decision)
        previous_reason = decision.reason
    return kept
