"""Samples a running loop (the Deployment, KEDA's HPA, the group's lag) and keeps the changes: the
raw material of the timeline JSON that tests/lab/keda_loop.py writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

SAMPLE_INTERVAL_S = 0.2
LAG_INTERVAL_S = 1.0


class Recorder(threading.Thread):
    """Samples the Deployment, its HPA and the group's lag; keeps only changes (and lag each second)."""

    def __init__(
        self,
        read_deployment: Callable[[], Any],
        read_hpa: Callable[[], Any],
        total_lag: Callable[[], int],
    ) -> None:
        super().__init__(name="keda-loop-recorder", daemon=True)
        self.read_deployment = read_deployment
        self.read_hpa = read_hpa
        self.total_lag = total_lag
        self.started = time.monotonic()
        self.stop_event = threading.Event()
        self.replicas: list[dict[str, Any]] = []
        self.ready: list[dict[str, Any]] = []
        self.hpa: list[dict[str, Any]] = []
        self.lag: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def run(self) -> None:
        next_lag = 0.0
        try:
            while not self.stop_event.is_set():
                self._sample_workload()
                if time.monotonic() >= next_lag:
                    next_lag = time.monotonic() + LAG_INTERVAL_S
                    self.lag.append({"t": self.elapsed(), "total": self.total_lag()})
                self.stop_event.wait(SAMPLE_INTERVAL_S)
        except BaseException as error:  # reported by `stop`
            self.error = error

    def stop(self) -> None:
        """Stop sampling; re-raises (as RuntimeError) what made the sampling thread fail."""
        self.stop_event.set()
        self.join(timeout=30)
        if self.error is not None:
            raise RuntimeError(f"the recorder failed: {self.error!r}") from self.error
        self._sample_workload()  # what the caller saw last (e.g. the return to 0) is in the timeline

    def _sample_workload(self) -> None:
        deployment = self.read_deployment()
        now = self.elapsed()
        spec = deployment.spec.replicas or 0
        if not self.replicas or self.replicas[-1]["replicas"] != spec:
            previous = self.replicas[-1]["replicas"] if self.replicas else None
            # KEDA's operator makes every change from or to 0; the HPA every change between 1 and N.
            by = None if previous is None else ("keda" if 0 in (previous, spec) else "hpa")
            self.replicas.append({"t": now, "replicas": spec, "by": by})
        ready = deployment.status.ready_replicas or 0
        if not self.ready or self.ready[-1]["ready"] != ready:
            self.ready.append({"t": now, "ready": ready})
        hpa = self.read_hpa()
        if hpa is not None and hpa.status is not None:
            # `average` is the External metric over `current` replicas, as the HPA status shows it.
            entry = {
                "desired": hpa.status.desired_replicas,
                "current": hpa.status.current_replicas,
                "average": _hpa_average(hpa),
            }
            if not self.hpa or {k: self.hpa[-1][k] for k in entry} != entry:
                self.hpa.append({"t": now, **entry})


def _hpa_average(hpa: Any) -> str | None:
    """The External metric's current average in the HPA's status (metric / current replicas)."""
    for metric in hpa.status.current_metrics or []:
        if metric.type == "External" and metric.external.current is not None:
            value = metric.external.current.average_value or metric.external.current.value
            return None if value is None else str(value)
    return None
