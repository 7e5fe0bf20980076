"""`python -m producer` runs the same command as `lagscale produce`."""

from producer.cli import produce

produce(prog_name="python -m producer")
