"""scaler.keda.fixes: opt-in quirk fixes, all off by default (KEDA-exact)."""

from __future__ import annotations

import pytest

from kafkakit.errors import ConfigError
from scaler.keda.fixes import KEDA_EXACT, Fixes, parse_fixes


def test_default_is_keda_exact() -> None:
    assert Fixes() == KEDA_EXACT
    assert KEDA_EXACT.enabled == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Fixes()),
        ("exact_cap", Fixes(exact_cap=True)),
        (" exact-cap , earliest_from_log_start ", Fixes(exact_cap=True, earliest_from_log_start=True)),
        ("all", Fixes(True, True, True)),
        ("all,exact_cap", Fixes(True, True, True)),
    ],
)
def test_parse_fixes(text: str, expected: Fixes) -> None:
    assert parse_fixes(text) == expected


def test_parse_fixes_unknown_name_says_what_exists() -> None:
    expected = r"unknown fix 'exact_kap'.*exact_cap, reach_partition_count"
    with pytest.raises(ConfigError, match=expected):
        parse_fixes("exact_kap")


def test_enabled_lists_names() -> None:
    assert parse_fixes("reach_partition_count").enabled == ("reach_partition_count",)
