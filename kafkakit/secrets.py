"""Keeping secrets out of logs and reprs."""

from __future__ import annotations

import re

_MASK = "***"
_registered: set[str] = set()

# `SharedAccessKey=...` inside an Event Hubs connection string, up to the next `;`.
_SAS_KEY = re.compile(r"(SharedAccessKey=)[^;\s'\"]*", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember a secret so `redact` removes it from any text, e.g. a client's error message."""
    if value and len(value) >= 4:
        _registered.add(value)


def redact(text: str) -> str:
    """Replace every registered secret and every SAS key in `text` by a mask."""
    for secret in sorted(_registered, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return _SAS_KEY.sub(rf"\g<1>{_MASK}", text)


def mask(value: str | None) -> str:
    """A secret as it may be shown: masked when set, empty when not."""
    return _MASK if value else ""
