"""The simulator's defaults from one run of bench_rebalance.py: lagscale/simulate/measured.json
(package data that `lagscale simulate` and the demo's prediction read), and its table for the docs."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumer_timings import measure_event_overhead, measure_join_latency, measure_producer_start
from rebalance_params import Observations, median, merge, model_timings

TIMINGS = ("heartbeat_interval", "join_latency", "fetch_delay", "revoke_pause", "assign_pause")


def write_model(
    path: Path | None,
    bootstrap: str,
    observed: dict[str, list[Observations]],
    group_args: dict[str, tuple[str, ...]],
    context: tuple[str, tuple[float, float]],
) -> dict[str, Any]:
    """The model measured in this run (`observed` per measured.json key, `group_args` the consumer
    flags of each; `context` the command and the load average), merged into the file at `path`
    (configurations this run did not measure keep their values); written there when given."""
    command, load_average = context
    everything = merge(one for runs in observed.values() for one in runs)
    per_config = {key: merge(runs) for key, runs in observed.items()}
    previous: dict[str, Any] = json.loads(path.read_text()) if path is not None and path.exists() else {}
    model = {
        "measured_by": command,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load_average[0]:.1f} before, {load_average[1]:.1f} after",
        "process_start": median(everything.process_start) or previous.get("process_start"),
        "start_spread": median(everything.start_spread) or previous.get("start_spread"),
        "producer_start": measure_producer_start(bootstrap),
        "event_overhead": measure_event_overhead(bootstrap),
        "protocols": dict(previous.get("protocols", {})),
        "cases": dict(previous.get("cases", {})),
    }
    for key, seen in per_config.items():
        joins = measure_join_latency(bootstrap, group_args[key])
        timings = model_timings("consumer" if key == "consumer" else "classic", seen, joins)
        old = model["protocols"].get(key, {})
        model["protocols"][key] = {
            name: value if value is not None else old.get(name) for name, value in timings.items()
        }
        model["cases"][key] = {name: len(getattr(seen, name)) for name in TIMINGS if hasattr(seen, name)}
        model["cases"][key]["join_latency"] = len(joins)
    model["cases"]["shared"] = {
        "process_start": len(everything.process_start),
        "start_spread": len(everything.start_spread),
    }
    if path is not None:
        path.write_text(json.dumps(model, indent=1) + "\n")
    return model


def model_table(model: dict[str, Any]) -> list[str]:
    """Markdown: each timing per configuration, with how many cases its median is over."""
    keys = list(model["protocols"])
    cases = model.get("cases", {})
    rows = ["| timing (s) | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name in TIMINGS:
        cells = []
        for key in keys:
            value = model["protocols"][key].get(name)
            count = cases.get(key, {}).get(name)
            shown = "-" if value is None else f"{value:g}"
            cells.append(shown if name == "heartbeat_interval" or count is None else f"{shown} ({count})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    shared = cases.get("shared", {})
    rows += [
        "",
        f"All configurations: process_start {model['process_start']:g} s ({shared.get('process_start', '-')} "
        f"cases), start_spread {model['start_spread']:g} s ({shared.get('start_spread', '-')} cases), "
        f"event_overhead {model['event_overhead']:g} s per event (the median of three consumers, each "
        "with --process-time 0.1 over a backlog of 100 events), producer_start "
        f"{model['producer_start']:g} s (the median of three producers).",
    ]
    return rows
