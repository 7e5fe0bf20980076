"""KEDA's partition cap as the tests check it (every tier): the one rule by which KEDA + the HPA may
run one replica more than there are partitions, KEDA's `cap-off-by-one` (docs/keda-semantics.md).

KEDA caps the metric only when `lag // lagThreshold > partitions` (Go integer division). A lag
strictly between P x T and (P + 1) x T therefore reaches the HPA uncapped, and the HPA asks for
ceil(lag / T) = P + 1 replicas. Any other peak above P is a bug, in lagscale or in the test.
"""

from __future__ import annotations

import math


def uncapped_above_partitions(metric: float, partitions: int, threshold: float) -> bool:
    """True when KEDA passes `metric` on uncapped although it asks for more than `partitions`."""
    return partitions * threshold < metric < (partitions + 1) * threshold


def peak_problem(peak: int, partitions: int, threshold: float, metric: float | None) -> str | None:
    """None when `peak` replicas are what KEDA + the HPA allow on `partitions` partitions, given the
    metric the HPA read when it asked for that peak (None when unknown); else what is wrong."""
    if peak <= partitions:
        return None
    if peak > partitions + 1:
        return f"peak {peak} is more than one above the partition count {partitions}"
    if metric is None:
        return f"peak {peak} > {partitions} partitions, and no metric recorded to explain it"
    if not uncapped_above_partitions(metric, partitions, threshold):
        low, high = partitions * threshold, (partitions + 1) * threshold
        return (
            f"peak {peak} > {partitions} partitions on a metric of {metric:g}: KEDA's cap quirk "
            f"explains one more replica only for a metric strictly between {low:g} and {high:g}"
        )
    if math.ceil(metric / threshold) != peak:
        return f"peak {peak}, but the HPA asks ceil({metric:g} / {threshold:g}) for that metric"
    return None
