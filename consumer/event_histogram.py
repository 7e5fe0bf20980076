"""A Prometheus histogram that takes many equal observations in one call.

The worker measures a batch of events once and observes each event with the batch's average:
with prometheus_client's Histogram that is one locked `observe()` per event, which cost as much
as decoding the event when work is free (`--process-time 0`). This collector adds `count`
observations of one value under one lock and exposes the same `_bucket`/`_count`/`_sum` series.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.metrics import Histogram
from prometheus_client.registry import Collector

DEFAULT_BUCKETS: tuple[float, ...] = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != math.inf)


class EventHistogram(Collector):
    def __init__(self, name: str, documentation: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("buckets must be a non-empty ascending sequence")
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, value: float, count: int = 1) -> None:
        """`count` observations of `value` (seconds)."""
        if count <= 0:
            return
        index = bisect.bisect_left(self._bounds, value)  # le-buckets: value <= bound
        with self._lock:
            self._counts[index] += count
            self._sum += value * count

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, math.inf), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets, total)
        yield family
