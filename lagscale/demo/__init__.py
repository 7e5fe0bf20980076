"""`lagscale demo`: the real scaling loop scales real consumer processes on a real (local) broker."""
