"""Which partition each event lands on: the producer's keys through librdkafka's default
partitioner (`consistent_random`: CRC-32 of the key modulo the partition count; a keyless event
goes to a random partition).

Forms (`--keys`):
  random          `lagscale produce`'s default: keys drawn from "0".."99" (the tutorial's). Each
                  key always lands on the same partition, so partitions get unequal shares, e.g.
                  18/19/12/24/18/9 % of the events on 6 partitions. The draws are replaced by an
                  even, deterministic walk over the 100 keys (the expected shares, no randomness).
  sequence        key = the event's number (0, 1, 2, ... in the order produced): exact.
  none | even     every partition alike, round-robin (keyless events, or keys from a large space).
  weights:W1,...  partition p gets a share proportional to Wp (e.g. measured per-partition counts).
"""

from __future__ import annotations

import bisect
import itertools
import math
import zlib
from dataclasses import dataclass

from kafkakit.errors import ConfigError, Problem

KEY_FORMS = ("random", "sequence", "none", "even", "weights:W1,W2,...")
TUTORIAL_KEYS = 100
# Successive multiples of the golden ratio (mod 1) cover [0, 1) more evenly than any other step:
# the walk over the keys follows their expected shares closely from the first events on.
_GOLDEN = (math.sqrt(5) - 1) / 2


def key_partition(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner picks for a keyed event."""
    return zlib.crc32(key) % partitions


@dataclass(frozen=True)
class KeySpread:
    """How events spread over partitions; `text` is the --keys form it came from."""

    text: str = "random"

    def shares(self, partitions: int) -> tuple[float, ...]:
        """The fraction of all events each partition gets in the long run."""
        if self.text == "random":
            counts = [0] * partitions
            for number in range(TUTORIAL_KEYS):
                counts[key_partition(b"%d" % number, partitions)] += 1
            return tuple(count / TUTORIAL_KEYS for count in counts)
        if self.text.startswith("weights:"):
            weights = self.weights(partitions)
            return tuple(weight / sum(weights) for weight in weights)
        return tuple(1 / partitions for _ in range(partitions))

    def weights(self, partitions: int) -> tuple[float, ...]:
        values = _weights(self.text)
        if len(values) != partitions:
            raise ConfigError(
                Problem("--keys", f"weights: gives {len(values)} values for {partitions} partitions")
            )
        return values

    def partitioner(self, partitions: int) -> Partitioner:
        return Partitioner(self, partitions)


class Partitioner:
    """Hands out the partitions of successive events; deterministic."""

    def __init__(self, spread: KeySpread, partitions: int) -> None:
        self.spread = spread
        self.partitions = partitions
        self._produced = 0
        self._bounds = list(itertools.accumulate(spread.shares(partitions)))
        self._bounds[-1] = 1.0 + 1e-12

    def split(self, events: int) -> list[int]:
        """Events per partition for the next `events` events."""
        counts = [0] * self.partitions
        first, self._produced = self._produced, self._produced + events
        if self.spread.text == "sequence":
            for number in range(first, first + events):
                counts[key_partition(b"%d" % number, self.partitions)] += 1
        elif self.spread.text in ("none", "even"):
            per_partition, remainder = divmod(events, self.partitions)
            start = first % self.partitions
            for offset in range(self.partitions):
                counts[(start + offset) % self.partitions] += per_partition + (1 if offset < remainder else 0)
        else:
            bounds = self._bounds
            for number in range(first, first + events):
                counts[bisect.bisect_right(bounds, (number * _GOLDEN) % 1.0)] += 1
        return counts


def parse_keys(text: str) -> KeySpread:
    """--keys as given; raises ConfigError naming it."""
    cleaned = text.strip()
    if cleaned in ("random", "sequence", "none", "even"):
        return KeySpread(cleaned)
    if cleaned.startswith("weights:"):
        _weights(cleaned)
        return KeySpread(cleaned)
    raise ConfigError(Problem("--keys", f"{text!r} is not one of {', '.join(KEY_FORMS)}"))


def _weights(text: str) -> tuple[float, ...]:
    items = text.partition(":")[2].split(",")
    try:
        values = tuple(float(item) for item in items)
    except ValueError:
        raise ConfigError(
            Problem("--keys", f"weights: takes numbers, one per partition, e.g. weights:3,1,1 (got {text!r})")
        ) from None
    if any(not math.isfinite(value) or value < 0 for value in values) or not sum(values) > 0:
        raise ConfigError(Problem("--keys", f"weights: must be >= 0 and not all 0 (got {text!r})"))
    return values
