"""The consumer-group worker: `lagscale consume` / `python -m consumer`."""
