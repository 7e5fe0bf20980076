"""`python -m scaler` runs `lagscale scale` (the scaler image's entry point)."""

from scaler.cli_scale import scale

scale(prog_name="python -m scaler")
