"""lagscale."""
