"""`python -m producer` runs the same command as `lagscale produce`."""

from kafkakit.cli_options import run_command
from producer.cli import produce

run_command(produce, "python -m producer")
