"""`python -m consumer` runs the same command as `lagscale consume`."""

from consumer.cli import consume
from kafkakit.cli_options import run_command

run_command(consume, "python -m consumer")
