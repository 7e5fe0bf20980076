"""The cluster's HPA controller settings read the same in every command that scales or simulates:
one flag name, one option name, one environment variable each (scaler/cli/options.py)."""

from __future__ import annotations

import click
import pytest

from lagscale.demo.cli import demo
from lagscale.simulate.cli import simulate
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
