"""One line per event, `key=value` structured, with secrets redacted.

log_event(logger, "sent", partition=3, offset=42)
-> ts=2026-11-28T04:20:00.123Z level=info logger=producer event=sent partition=3 offset=42
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from kafkakit.secrets import redact

_FIELDS_ATTR = "kv_fields"
# Characters that make a value need quotes (besides non-printable ones, which are escaped).
_QUOTE_TRIGGERS = frozenset(' ="\\')
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every non-printable character (CR, LF, ESC, other controls, U+2028, ...) written
    as a Python escape, so that payloads and client errors can neither start a log line of their
    own nor drive the terminal. Backslashes are left alone: this is for reading, not decoding."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    return _ESCAPES.get(ch) or ch.encode("unicode_escape").decode("ascii")


def _quote(value: object) -> str:
    # Redacted per value, before escaping: a secret containing `"` or `\` still matches.
    text = redact(str(value))
    if text and text.isprintable() and _QUOTE_TRIGGERS.isdisjoint(text):
        return text
    # Backslashes and quotes first, so that shlex.split reads the value back; then the escapes.
    return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


class KeyValueFormatter(logging.Formatter):
    """Formats records as `ts=.. level=.. logger=.. event=.. k=v ...`; every value is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={moment}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_quote(record.getMessage())}",
        ]
        fields: dict[str, Any] = getattr(record, _FIELDS_ATTR, {})
        parts.extend(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            parts.append(f"error={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event line."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_FIELDS_ATTR: fields})


def configure_logging(verbose: bool = False, stream: Any = None) -> None:
    """Send structured lines to stderr (or `stream`); debug level when verbose."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # The Kubernetes client and urllib3 are chatty at debug level and may print headers.
    for noisy in ("urllib3", "kubernetes", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
