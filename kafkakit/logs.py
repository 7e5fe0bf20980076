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


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' ="\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


class KeyValueFormatter(logging.Formatter):
    """Formats records as `ts=.. level=.. logger=.. event=.. k=v ...`; redacts secrets last."""

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
        return redact(" ".join(parts))


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
