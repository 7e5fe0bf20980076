"""The produce loop: optional burst, then paced sends until --count or a stop signal, then flush."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafkakit.events import EventEncoder
from kafkakit.logs import log_event
from producer.keys import key_function
from producer.rate import Pacer
from producer.sender import DeliveryStats, Sender

logger = logging.getLogger("producer")

# Waits shorter than this are skipped: sleeping that briefly is imprecise and the pacer's
# absolute timeline makes up for it on the next events.
_MIN_WAIT_SECONDS = 0.001
# How quickly a paced producer notices a stop request.
_STOP_CHECK_SECONDS = 0.05
# Unpaced events (a burst, or --rate 0) go to the sender in chunks of this many: one call per
# chunk instead of per event, while stop requests and progress are still checked every few ms.
_CHUNK_EVENTS = 1000


@dataclass(frozen=True)
class ProduceSettings:
    topic: str
    rate: float = 0.0  # events per second; 0 = as fast as possible
    count: int = 0  # total events, burst included; 0 = until stopped
    key: str = "random"
    size: int = 0  # pad each event to this many bytes; 0 = no padding
    burst: int = 0  # events sent at once before pacing starts
    progress_interval: float = 5.0
    flush_timeout: float = 10.0  # on exit; below Kubernetes' default 30 s grace period


@dataclass(frozen=True)
class ProduceSummary:
    sent: int
    delivered: int
    failed: int
    elapsed_seconds: float

    @property
    def lost(self) -> int:
        return self.sent - self.delivered

    @property
    def rate(self) -> float:
        return self.delivered / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def producer_name() -> str:
    """Identifies this process in each event: the pod name in Kubernetes, plus the PID."""
    return f"{socket.gethostname()}-{os.getpid()}"


def run_producer(
    settings: ProduceSettings,
    sender: Sender,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> ProduceSummary:
    """Produce until done or stopped; always flushes. Returns what happened."""
    make_keys = key_function(settings.key)
    encoder = EventEncoder(producer_name(), settings.size)
    pacer = Pacer(settings.rate, clock)
    started = last_report = clock()
    reported_delivered = 0
    sequence = 0
    while not stop.is_set() and not (settings.count and sequence >= settings.count):
        chunk = _unpaced_events(settings, sequence)
        if not chunk:
            wait = pacer.delay()
            if wait >= _MIN_WAIT_SECONDS and _sleep_unless_stopped(stop, wait):
                break
            chunk = 1
        numbers = range(sequence, sequence + chunk)
        sender.send(make_keys(numbers), encoder.encode(numbers))
        sequence += chunk
        sender.serve()
        now = clock()
        if now - last_report >= settings.progress_interval:
            delivered = sender.stats.delivered
            _log_progress(sender, (delivered - reported_delivered) / (now - last_report))
            last_report, reported_delivered = now, delivered
    sender.flush(settings.flush_timeout)
    stats = sender.stats
    _log_failures(stats)
    return ProduceSummary(stats.sent, stats.delivered, stats.failed, clock() - started)


def _unpaced_events(settings: ProduceSettings, sequence: int) -> int:
    """How many events from `sequence` on may go out at once (0: the next one is paced)."""
    if sequence < settings.burst:
        limit = settings.burst
    elif not settings.rate:
        limit = settings.count or sequence + _CHUNK_EVENTS
    else:
        return 0
    if settings.count:
        limit = min(limit, settings.count)
    return min(limit - sequence, _CHUNK_EVENTS)


def _sleep_unless_stopped(stop: threading.Event, seconds: float) -> bool:
    """Sleep in short slices; True when stopped. Never `stop.wait()` here: a signal handler that
    calls `stop.set()` while this thread holds the Event's internal lock would deadlock."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, _STOP_CHECK_SECONDS))
    return True


def _log_failures(stats: DeliveryStats) -> None:
    """One line for all failures since the last one, with the first reason."""
    count, first_error = stats.take_failures()
    if count:
        log_event(logger, "delivery_failed", logging.WARNING, events=count, first_error=first_error)


def _log_progress(sender: Sender, rate: float) -> None:
    stats = sender.stats
    _log_failures(stats)
    log_event(
        logger,
        "progress",
        rate=f"{rate:.1f}/s",
        sent=stats.sent,
        delivered=stats.delivered,
        failed=stats.failed,
        pending=stats.pending,
    )
