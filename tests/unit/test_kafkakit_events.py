import json
from datetime import UTC, datetime

import pytest

from kafkakit.events import Event, InvalidEventError, decode_event, encode_event


def test_event_round_trips_with_utc_iso_time():
    event = Event.new(7, "producer-1", now=datetime(2026, 11, 28, 4, 0, 1, 500000, tzinfo=UTC))
    assert event.time == "2026-11-28T04:00:01.500Z"
    decoded = decode_event(encode_event(event))
    assert decoded == event


@pytest.mark.parametrize("size", [200, 512, 4096])
def test_padding_brings_the_event_to_exactly_the_requested_size(size):
    data = encode_event(Event.new(1, "p"), size=size)
    assert len(data) == size
    assert decode_event(data).sequence == 1


def test_size_smaller_than_the_event_leaves_it_unpadded():
    data = encode_event(Event.new(1, "p"), size=10)
    assert "padding" not in json.loads(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "empty"),
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"id": "a"}', "missing field"),
        (b'{"id": "a", "sequence": "1", "time": "2026-01-01T00:00:00Z", "producer": "p"}', "sequence"),
        (b'{"id": "a", "sequence": 1, "time": "yesterday", "producer": "p"}', "ISO-8601"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(data, reason):
    with pytest.raises(InvalidEventError, match=reason):
        decode_event(data)
