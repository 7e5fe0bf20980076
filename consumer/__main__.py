"""`python -m consumer` runs the same command as `lagscale consume`."""

from consumer.cli import consume

consume(prog_name="python -m consumer")
