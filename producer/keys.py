"""Message keys. `random` (0-99, like the tutorial) spreads events over partitions with the
default partitioner; `sequence` makes the spread deterministic; `none` lets the client pick."""

from __future__ import annotations

import random
from collections.abc import Callable

KEY_STRATEGIES = ("random", "sequence", "none")

KeyFunction = Callable[[int], bytes | None]

# The tutorial draws keys from 0..99; encoded once, not per event.
_RANDOM_KEYS = tuple(str(number).encode() for number in range(100))


def key_function(strategy: str, rng: random.Random | None = None) -> KeyFunction:
    """A function from the event's sequence number to its key bytes (or None)."""
    if strategy == "random":
        draw = (rng or random.Random()).random  # noqa: S311 - keys only spread load, nothing secret
        # random() and an index: ~0.1 µs, where randrange() and encode() took ~1.5 µs per event.
        return lambda _sequence: _RANDOM_KEYS[int(draw() * len(_RANDOM_KEYS))]
    if strategy == "sequence":
        return lambda sequence: str(sequence).encode()
    if strategy == "none":
        return lambda _sequence: None
    raise ValueError(f"unknown key strategy {strategy!r}: choose one of {', '.join(KEY_STRATEGIES)}")
