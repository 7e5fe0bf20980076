"""The JSON event producer: `lagscale produce` / `python -m producer`."""
