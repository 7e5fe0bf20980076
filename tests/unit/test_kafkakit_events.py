import json
import uuid
from datetime import UTC, datetime

import pytest

from kafkakit.events import (
    Event,
    EventEncoder,
    EventFields,
    InvalidEventError,
    check_event,
    check_events,
    decode_event,
    encode_event,
)


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
        (b'"sequence"', "JSON object"),
        (b"7", "JSON object"),
        (b'{"id": "a", "sequence": true, "time": "2026-01-01T00:00:00Z", "producer": "p"}', "sequence"),
        (b'{"id": "a", "sequence": 1.0, "time": "2026-01-01T00:00:00Z", "producer": "p"}', "sequence"),
        (b'{"id": 1, "sequence": 1, "time": "2026-01-01T00:00:00Z", "producer": "p"}', "'id' must be"),
        (b'{"id": "a", "sequence": 1, "time": 20260101, "producer": "p"}', "'time' must be a string"),
        (b'{"id": "a", "sequence": 1, "time": "2026-01-01T00:00:00Z", "producer": null}', "'producer' must"),
        (b'{"sequence": 1, "time": "2026-01-01T00:00:00Z"}', "missing field\\(s\\): id, producer"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(data, reason):
    for decode in (decode_event, check_event):
        with pytest.raises(InvalidEventError, match=reason):
            decode(data)
    with pytest.raises(InvalidEventError):  # also among valid ones, checked all at once
        check_events([encode_event(Event.new(1, "p")), data, encode_event(Event.new(2, "p"))])


def test_check_events_returns_the_fields_of_every_event_in_order():
    events = [Event.new(sequence, "p") for sequence in range(5)]
    fields = check_events(encode_event(event, size=200) for event in events)
    assert fields == [check_event(encode_event(event)) for event in events]
    assert [f.sequence for f in fields] == list(range(5))


def test_check_event_returns_the_fields_and_accepts_unknown_ones():
    data = b'{"id": "a", "sequence": 3, "time": "2026-01-01", "producer": "p", "padding": 5, "extra": [1]}'
    assert check_event(data) == EventFields("a", 3, "2026-01-01", "p")
    assert decode_event(data) == Event("a", 3, "2026-01-01", "p", "5")


def test_a_field_given_twice_is_rejected_with_the_decoders_reason():
    data = b'{"id": "a", "sequence": "1", "sequence": 1, "time": "2026-01-01", "producer": "p"}'
    with pytest.raises(InvalidEventError, match=r"Expected `int`, got `str` - at `\$.sequence`"):
        check_event(data)


class StepClock:
    """Nanoseconds since the epoch, advanced by hand."""

    def __init__(self, epoch_ms: int) -> None:
        self.ns = epoch_ms * 1_000_000

    def __call__(self) -> int:
        return self.ns


@pytest.mark.parametrize("size", [0, 10, 200, 4096])
def test_encoder_gives_the_same_bytes_as_encode_event_across_digit_boundaries(size):
    encoder = EventEncoder("host-7", size)
    for sequence in (0, 9, 10, 99, 100, 12_345, 10**12):
        [data] = encoder.encode(range(sequence, sequence + 1))
        event = decode_event(data)
        assert (event.sequence, event.producer) == (sequence, "host-7")
        assert data == encode_event(event, size)
        if size >= 200:
            assert len(data) == size


def test_encoder_ids_are_unique_uuids_per_event_and_per_encoder():
    first, second = EventEncoder("p"), EventEncoder("p")
    ids = [decode_event(data).id for encoder in (first, second) for data in encoder.encode(range(1000))]
    assert len(set(ids)) == 2000
    assert all(uuid.UUID(value).version == 4 for value in ids)


def test_encoder_time_is_the_clocks_millisecond_in_utc_read_once_per_call():
    clock = StepClock(epoch_ms=int(datetime(2026, 11, 28, 4, 0, 1, tzinfo=UTC).timestamp() * 1000) + 500)
    encoder = EventEncoder("p", clock_ns=clock)
    assert {decode_event(data).time for data in encoder.encode(range(3))} == {"2026-11-28T04:00:01.500Z"}
    clock.ns += 999_999  # still the same millisecond
    assert decode_event(encoder.encode(range(1))[0]).time == "2026-11-28T04:00:01.500Z"
    clock.ns += 1
    assert decode_event(encoder.encode(range(1))[0]).time == "2026-11-28T04:00:01.501Z"


def test_encoder_escapes_the_producer_name():
    [data] = EventEncoder('pod "a" 100%', 300).encode(range(3, 4))
    assert decode_event(data).producer == 'pod "a" 100%'
    assert len(data) == 300
