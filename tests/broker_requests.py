"""Requests as the broker saw them: Kafka's request logger (`kafka.request.logger`) at DEBUG writes
one line per completed request, with its API key and the client id, into scripts/kafka's
requests.log. The level is changed at runtime with IncrementalAlterConfigs on the BROKER_LOGGER
resource; confluent-kafka has no such resource type, so kafka-python's admin client sends it.

    with BrokerRequestLog(bootstrap, log_file) as log:
        start = log.mark()
        ...                                   # the window to count
        counts = log.count_since(start)       # {(client id, API key): requests}
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Set
from pathlib import Path
from types import TracebackType

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

LOGGER = "kafka.request.logger"
_PREFIX = "Completed request:"
_SUFFIX = f" ({LOGGER})"
# The broker's own traffic (KRaft heartbeats, fetches from itself) goes through this listener.
_INTERNAL_LISTENER = "CONTROLLER"


class BrokerRequestLog:
    """Turns the request logger on for a `with` block and counts the requests in a window."""

    def __init__(self, bootstrap: str, log_file: Path, broker_id: str = "1") -> None:
        self.log_file = log_file
        self._broker_id = broker_id
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-request-log")

    def __enter__(self) -> BrokerRequestLog:
        self._set_level("DEBUG")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._set_level("WARN")
        self._admin.close()

    def _set_level(self, level: str) -> None:
        resource = ConfigResource(ConfigResourceType.BROKER_LOGGER, self._broker_id, {LOGGER: level})
        self._admin.alter_configs([resource], raise_on_unknown=False)
        time.sleep(0.5)  # the broker applies it right away; let lines already in flight land

    def mark(self) -> int:
        """Where the window starts (a byte offset in the log file)."""
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def count_since(
        self, offset: int, client_ports: Set[int] | None = None, until: int | None = None
    ) -> Counter[tuple[str, str]]:
        """Requests per (client id, API key) logged after `offset` (and before `until`, another
        mark), the broker's own excepted; with `client_ports`, only those that came over connections
        from these local ports."""
        counts: Counter[tuple[str, str]] = Counter()
        with self.log_file.open("rb") as log:
            log.seek(offset)
            window = log.read() if until is None else log.read(max(until - offset, 0))
        text = window.decode(errors="replace")
        for line in text.splitlines():
            if _PREFIX not in line or not line.endswith(_SUFFIX):  # not a request, or cut at a mark
                continue
            record = json.loads(line.split(_PREFIX, 1)[1].rsplit(_SUFFIX, 1)[0])
            if record.get("listener") == _INTERNAL_LISTENER:
                continue
            if client_ports is not None and _client_port(record) not in client_ports:
                continue
            header = record["requestHeader"]
            counts[(str(header.get("clientId")), header["requestApiKeyName"])] += 1
        return counts


def _client_port(record: dict[str, object]) -> int:
    """The client's port in the broker's connection id `brokerhost:port-clienthost:port-n-m`."""
    client_side = str(record.get("connection", "")).split("-")[1]
    return int(client_side.rpartition(":")[2])
