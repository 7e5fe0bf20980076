"""Keeping secrets out of logs and reprs."""

from __future__ import annotations

import re

_MASK = "***"
_registered: set[str] = set()

# `SharedAccessKey=...` inside an Event Hubs connection string, up to the next `;`.
_SAS_KEY = re.compile(r"(SharedAccessKey=)[^;\s'\"]*", re.IGNORECASE)
# A JWT (an OAuth access token, a client assertion): header.payload.signature, base64url, the
# header always starting with `{"` = `eyJ`. Masked wherever it appears, registered or not.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def register_secret(value: str | None) -> None:
    """Remember a secret so `redact` removes it from any text, e.g. a client's error message."""
    if value and len(value) >= 4:
        _registered.add(value)


def forget_secret(value: str | None) -> None:
    """Stop looking for a secret that is no longer used (a replaced access token), so that a
    long-running process does not collect every token it ever had."""
    _registered.discard(value or "")


def redact(text: str) -> str:
    """Replace every registered secret, every SAS key and every JWT in `text` by a mask."""
    for secret in sorted(_registered, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return _JWT.sub(_MASK, _SAS_KEY.sub(rf"\g<1>{_MASK}", text))


def mask(value: str | None) -> str:
    """A secret as it may be shown: masked when set, empty when not."""
    return _MASK if value else ""
