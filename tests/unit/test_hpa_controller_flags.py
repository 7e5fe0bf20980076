"""The cluster's HPA controller settings read the same in every command that scales or simulates:
one flag name, one option name, one environment variable each (scaler/cli/options.py)."""

from __future__ import annotations

import click
import pytest

from lagscale.demo.cli import demo
from lagscale.simulate.cli import simulate
from scaler.cli.options import WholeSeconds, hpa_controller_from
from scaler.cli.scale import scale

EXPECTED = {
    "--hpa-sync-period": ("hpa_sync_period", "LAGSCALE_HPA_SYNC_PERIOD"),
    "--hpa-downscale-stabilization": ("hpa_downscale_stabilization", "LAGSCALE_HPA_DOWNSCALE_STABILIZATION"),
    "--hpa-tolerance": ("hpa_tolerance", "LAGSCALE_HPA_TOLERANCE"),
}


@pytest.mark.parametrize("command", [scale, demo, simulate], ids=lambda command: command.name)
def test_the_hpa_controller_flags_are_the_same_in_every_command(command: click.Command) -> None:
    found: dict[str, tuple[str | None, str | None]] = {}
    for param in command.params:
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        for flag in param.opts:
            if flag.startswith("--hpa-"):
                found[flag] = (param.name, envvars[-1] if envvars else None)
    assert found == EXPECTED


@pytest.mark.parametrize(
    ("given", "seconds"), [("15", 15), ("15s", 15), ("1m0s", 60), ("2m", 120), ("1h", 3600)]
)
def test_the_sync_period_takes_seconds_or_a_kubernetes_duration(given: str, seconds: int) -> None:
    assert (
        hpa_controller_from(
            {"hpa_sync_period": WholeSeconds(1).convert(given, None, None)}
        ).sync_period_seconds
        == seconds
    )


@pytest.mark.parametrize("given", ["0", "0s", "1.5", "5x", "", "s"])
def test_a_bad_sync_period_is_refused(given: str) -> None:
    with pytest.raises(click.BadParameter):
        WholeSeconds(1).convert(given, None, None)
