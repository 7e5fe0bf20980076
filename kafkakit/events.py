"""The JSON event both the producer and the consumer speak.

An event is `{"id", "sequence", "time", "producer"}` plus an optional `padding` string that
brings the encoded size up to a requested number of bytes (for throughput and size tests).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

_FIELDS = ("id", "sequence", "time", "producer")
# Bytes of `,"padding":""` that the padding field adds before its content.
_PADDING_OVERHEAD = len(b',"padding":""')


class InvalidEventError(ValueError):
    """Bytes that are not a valid event; the message says what is wrong."""


@dataclass(frozen=True)
class Event:
    id: str
    sequence: int
    time: str
    producer: str
    padding: str = ""

    @classmethod
    def new(cls, sequence: int, producer: str, now: datetime | None = None) -> Event:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(id=str(uuid.uuid4()), sequence=sequence, time=stamp, producer=producer)


def encode_event(event: Event, size: int = 0) -> bytes:
    """Serialise compactly; when `size` is larger than the bare event, pad up to exactly `size` bytes."""
    body = {name: getattr(event, name) for name in _FIELDS}
    bare = json.dumps(body, separators=(",", ":")).encode()
    missing = size - len(bare) - _PADDING_OVERHEAD
    if missing <= 0:
        return bare
    body["padding"] = "x" * missing
    return json.dumps(body, separators=(",", ":")).encode()


def decode_event(data: bytes | None) -> Event:
    """Parse and validate one event; raises InvalidEventError with a short reason."""
    if data is None:
        raise InvalidEventError("empty message (no value)")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEventError(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidEventError(f"expected a JSON object, got {type(body).__name__}")
    missing = [name for name in _FIELDS if name not in body]
    if missing:
        raise InvalidEventError(f"missing field(s): {', '.join(missing)}")
    sequence = body["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool):
        raise InvalidEventError("field 'sequence' must be an integer")
    for name in ("id", "time", "producer"):
        if not isinstance(body[name], str):
            raise InvalidEventError(f"field '{name}' must be a string")
    try:
        datetime.fromisoformat(body["time"])
    except ValueError:
        raise InvalidEventError("field 'time' is not an ISO-8601 timestamp") from None
    padding = body.get("padding", "")
    return Event(body["id"], sequence, body["time"], body["producer"], str(padding))
