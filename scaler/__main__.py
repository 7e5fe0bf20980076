"""`python -m scaler` runs `lagscale scale` (the scaler image's entry point)."""

from kafkakit.cli_options import run_command
from scaler.cli.scale import scale

run_command(scale, "python -m scaler")
