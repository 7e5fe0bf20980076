"""How `lagscale simulate` spreads events over partitions: as the producer's keys and librdkafka's
default partitioner (CRC-32 of the key modulo the partition count) put them."""

from __future__ import annotations

import zlib

import pytest

from kafkakit.errors import ConfigError
from lagscale.simulate.keys import KeySpread, key_partition, parse_keys
from producer.keys import key_function


def test_the_tutorial_keys_give_six_partitions_unequal_shares() -> None:
    # Keys "0".."99" hash to 18, 19, 12, 24, 18 and 9 of the 6 partitions.
    assert [round(share * 100) for share in KeySpread("random").shares(6)] == [18, 19, 12, 24, 18, 9]


def test_random_keys_follow_their_shares_from_the_first_events_on() -> None:
    partitioner = KeySpread("random").partitioner(6)
    counts = partitioner.split(2400)
    expected = [share * 2400 for share in KeySpread("random").shares(6)]
    assert all(abs(count - want) <= 2 for count, want in zip(counts, expected, strict=True))
    assert sum(partitioner.split(7)) == 7


def test_sequence_keys_land_where_the_producer_puts_them() -> None:
    keys = key_function("sequence")(range(1000))
    expected = [0] * 4
    for key in keys:
        assert key is not None
        expected[zlib.crc32(key) % 4] += 1
    partitioner = KeySpread("sequence").partitioner(4)
    assert [a + b for a, b in zip(partitioner.split(400), partitioner.split(600), strict=True)] == expected
    assert key_partition(b"7", 4) == zlib.crc32(b"7") % 4


def test_even_and_weighted_spreads() -> None:
    assert KeySpread("even").partitioner(3).split(7) == [3, 2, 2]
    assert abs(KeySpread("weights:3,1").partitioner(2).split(400)[0] - 300) <= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("hashed", "not one of"), ("weights:1,x", "takes numbers"), ("weights:0,0", "not all 0")],
)
def test_bad_keys_name_the_flag(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"--keys: .*{message}"):
        parse_keys(text)


def test_weights_must_match_the_partitions() -> None:
    with pytest.raises(ConfigError, match="--keys: weights: gives 2 values for 3 partitions"):
        KeySpread("weights:1,2").shares(3)
