"""Load profiles of `lagscale simulate`: parsing, per-second events, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkakit.errors import ConfigError
from lagscale.simulate.load import load_csv, parse_load


def test_constant_rate_writes_the_rate_every_second() -> None:
    assert parse_load("constant:50").events(4) == [50, 50, 50, 50]


def test_fractional_rate_carries_over_so_the_total_is_exact() -> None:
    events = parse_load("constant:0.5").events(10)
    assert events == [0, 1] * 5
    assert sum(parse_load("constant:2.25").events(100)) == 225


def test_steps_switch_rate_at_their_start_second() -> None:
    profile = parse_load("steps:10@0,100@3,0@5")
    assert profile.events(7) == [10, 10, 10, 100, 100, 0, 0]
    assert profile.last_load_second(7) == 4


def test_steps_before_the_first_start_write_nothing() -> None:
    assert parse_load("steps:5@2").events(4) == [0, 0, 5, 5]


def test_bursts_arrive_at_once_every_period() -> None:
    assert parse_load("bursts:100@3").events(7) == [100, 0, 0, 100, 0, 0, 100]


def test_csv_with_one_rate_per_line_and_a_header(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("events_per_second\n5\n0\n\n7.5\n1.5\n")
    profile = load_csv(path)
    assert profile.events(5) == [5, 0, 7, 2, 0]


def test_csv_with_second_rate_pairs_fills_gaps_with_zero(tmp_path: Path) -> None:
    path = tmp_path / "load.csv"
    path.write_text("second,rate\n0,3\n2,4\n")
    assert load_csv(path).events(4) == [3, 0, 4, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sine:5", "unknown load"),
        ("constant", "unknown load"),
        ("constant:-1", "must be a finite number >= 0"),
        ("constant:fast", "must be a number"),
        ("steps:10@5,20@5", "strictly increasing"),
        ("steps:10", "RATE@SECOND"),
        ("bursts:100@0", "EVERY >= 1"),
        ("bursts:1.5@10", "whole number"),
    ],
)
def test_bad_load_text_says_what_to_change(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_load(text)


def test_unreadable_csv_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read load CSV"):
        load_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("1\n2\nlots\n")
    with pytest.raises(ConfigError, match="must be a number"):
        load_csv(bad)


def test_single_bursts_arrive_once_at_their_second() -> None:
    assert parse_load("burst:100@1,50@3").events(5) == [0, 100, 0, 50, 0]


def test_parts_joined_by_plus_add_up() -> None:
    profile = parse_load("burst:2400@0+steps:20@0,0@20")
    assert profile.events(3) == [2420, 20, 20]
    assert sum(profile.events(60)) == 2800


def test_events_in_tenths_of_a_second_carry_fractions() -> None:
    profile = parse_load("steps:5@0.5")
    assert profile.events(1, 0.1) == [0, 0, 0, 0, 0, 0, 1, 0, 1, 0]
    assert sum(profile.events(10, 0.1)) == 47  # 9.5 s at 5/s


def test_an_empty_part_is_an_error() -> None:
    with pytest.raises(ConfigError, match="empty part"):
        parse_load("constant:5+")
