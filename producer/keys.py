"""Message keys. `random` (0-99, like the tutorial) spreads events over partitions with the
default partitioner; `sequence` makes the spread deterministic; `none` lets the client pick."""

from __future__ import annotations

import random
from collections.abc import Callable

KEY_STRATEGIES = ("random", "sequence", "none")

KeyFunction = Callable[[int], bytes | None]

# The tutorial draws keys from 0..99.
_RANDOM_KEY_SPACE = 100


def key_function(strategy: str, rng: random.Random | None = None) -> KeyFunction:
    """A function from the event's sequence number to its key bytes (or None)."""
    if strategy == "random":
        source = rng or random.Random()  # noqa: S311 - keys only spread load, nothing secret
        return lambda _sequence: str(source.randrange(_RANDOM_KEY_SPACE)).encode()
    if strategy == "sequence":
        return lambda sequence: str(sequence).encode()
    if strategy == "none":
        return lambda _sequence: None
    raise ValueError(f"unknown key strategy {strategy!r}: choose one of {', '.join(KEY_STRATEGIES)}")
