"""One call of the KEDA scaler, as the loop makes it on both of its paths (poll and HPA sync).

On failure KEDA rebuilds the scaler (new client, new persistent-lag history) and retries once
within the same call (semantics section 3.6). A client that cannot connect is a rebuild that
failed: KEDA returns that error without a second call, and so does this, so one evaluation waits
for the broker at most once. Every round's outcome also moves the consecutive failure count that
fallback reads (KEDA's status.health).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafkakit.errors import BrokerError
from kafkakit.logs import log_event
from scaler.errors import OffsetsError
from scaler.keda.executor import Fallback, FallbackTracker
from scaler.keda.lag import LagCalculator, LagReport
from scaler.loop.clock import Clock
from scaler.loop.offsets import OffsetSource

_log = logging.getLogger("scaler.loop")  # these events belong to the loop's log stream


@dataclass(frozen=True)
class Evaluation:
    """report None = the round failed; `error` says why."""

    report: LagReport | None
    error: str | None
    duration: float


class ScalerCalls:
    """The trigger's scaler: offsets source + lag calculator, with KEDA's error handling."""

    def __init__(
        self, source: OffsetSource, calculator: LagCalculator, clock: Clock, fallback: Fallback | None
    ) -> None:
        self.source = source
        self.calculator = calculator
        self.clock = clock
        self.fallback = FallbackTracker(fallback) if fallback is not None else None
        self.failures = 0

    @property
    def fallback_active(self) -> bool:
        return self.fallback is not None and self.fallback.active

    def evaluate(self) -> Evaluation:
        """One round: a call, and after a failure a rebuild and one retry."""
        started = self.clock.now()
        error: BrokerError | None = None
        for _attempt in range(2):
            try:
                report = self.calculator.evaluate(self.source.fetch())
            except BrokerError as failure:  # no connection, or offsets a connected client could not read
                error = failure
                self.calculator.reset()
                self.source.reset()  # a new client too: KEDA rebuilds the whole scaler
                if not isinstance(failure, OffsetsError):
                    break  # the connect was the rebuild, and it failed
                continue
            self._record_success()
            return Evaluation(report, None, self.clock.now() - started)
        self._record_failure(error)
        return Evaluation(None, str(error), self.clock.now() - started)

    def _record_success(self) -> None:
        if self.failures:
            log_event(_log, "recovered", failures=self.failures)
        self.failures = 0
        if self.fallback is not None:
            self.fallback.record_success()

    def _record_failure(self, error: BrokerError | None) -> None:
        self.failures += 1
        log_event(
            _log,
            "evaluation_failed",
            logging.WARNING,
            consecutive_failures=self.failures,
            retriable=error.retriable if error is not None else True,
            error=str(error),
        )
        if self.fallback is not None:
            self.fallback.record_failure()
