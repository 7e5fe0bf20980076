"""Message keys. `random` (0-99, like the tutorial) spreads events over partitions with the
default partitioner; `sequence` makes the spread deterministic; `none` lets the client pick."""

from __future__ import annotations

import random
from collections.abc import Callable

KEY_STRATEGIES = ("random", "sequence", "none")

KeyFunction = Callable[[range], list[bytes | None]]

# The tutorial draws keys from 0..99; encoded once, not per event.
_RANDOM_KEYS: tuple[bytes | None, ...] = tuple(str(number).encode() for number in range(100))


def key_function(strategy: str, rng: random.Random | None = None) -> KeyFunction:
    """A function from a range of sequence numbers to their events' keys (bytes or None). Keys are
    made a chunk at a time: per event, a Python call cost as much as the key itself."""
    if strategy == "random":
        source = rng or random.Random()  # noqa: S311 - keys only spread load, nothing secret
        return lambda numbers: source.choices(_RANDOM_KEYS, k=len(numbers))
    if strategy == "sequence":
        return lambda numbers: [b"%d" % number for number in numbers]
    if strategy == "none":
        return lambda numbers: [None] * len(numbers)
    raise ValueError(f"unknown key strategy {strategy!r}: choose one of {', '.join(KEY_STRATEGIES)}")
