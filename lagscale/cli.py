"""The `lagscale` command. Subcommands live with the package that owns them and load lazily,
so `lagscale produce` does not pay for importing the Kubernetes client."""

from __future__ import annotations

import importlib

import click

from kafkakit.cli_options import OneLineErrors

# command name -> "module:attribute" of a click command
_COMMANDS = {
    "produce": "producer.cli:produce",
    "consume": "consumer.cli:consume",
    "lag": "scaler.cli.lag:lag",
    "scale": "scaler.cli.scale:scale",
    "serve-grpc": "scaler.cli.serve_grpc:serve_grpc",
    "render": "lagscale.render.cli:render",
    "simulate": "lagscale.simulate.cli:simulate",
    "demo": "lagscale.demo.cli:demo",
}


class _LazyGroup(OneLineErrors, click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*_COMMANDS, *super().list_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lagscale")
def main() -> None:
    """Lag-based autoscaling of Kafka consumers, KEDA-exact, explained."""
