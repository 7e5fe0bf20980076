"""Opt-in corrections of KEDA quirks. All off by default, which means KEDA-exact behaviour."""

from __future__ import annotations

from dataclasses import dataclass, fields

from kafkakit.errors import ConfigError, Problem


@dataclass(frozen=True)
class Fixes:
    """Which known KEDA quirks to correct.

    exact_cap: cap the metric as soon as totalLag > upper * lagThreshold (KEDA only caps once
        totalLag // lagThreshold > upper, so the metric can reach (upper + 1) * threshold - 1).
    reach_partition_count: when the scaler pinned the metric to an exact replica count (cap or
        even distribution), the HPA adopts that count even inside its tolerance dead band
        (keda#2908: at 63 of 64 partitions the capped metric never adds the 64th replica).
    earliest_from_log_start: an uncommitted partition under `earliest` counts
        latest - log_start instead of latest, so retention-deleted records are not lag (keda#7936).
    """

    exact_cap: bool = False
    reach_partition_count: bool = False
    earliest_from_log_start: bool = False

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the fixes that are on, in declaration order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


KEDA_EXACT = Fixes()
FIX_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Fixes))


def parse_fixes(text: str) -> Fixes:
    """Parse a comma list of fix names (`all` turns every fix on; empty means none)."""
    names = {item.strip().replace("-", "_") for item in text.split(",") if item.strip()}
    if "all" in names:
        names.discard("all")
        names.update(FIX_NAMES)
    unknown = sorted(names - set(FIX_NAMES))
    if unknown:
        named = ", ".join(repr(name) for name in unknown)
        raise ConfigError(
            Problem("fixes", f"unknown fix {named}: choose from {', '.join(FIX_NAMES)} or 'all'")
        )
    return Fixes(**dict.fromkeys(names, True))
