"""The scaling loop: offsets -> lag -> replicas, in KEDA's rhythm (`keda`) or a faster one (`direct`).

Mode `keda` reproduces KEDA + HPA (semantics sections 3.4-3.6): every pollingInterval KEDA polls
the trigger for activity and its executor does 0 <-> 1 (and N -> 0/idle after cooldownPeriod);
separately, one HPA sync period after its previous sync ended the HPA asks for the metric, which
calls the scaler a second time, and applies tolerance, stabilisation and scale-up limits while
replicas > 0.

Mode `direct` polls only: when active it sets ceil(metric / lagThreshold) clamped to
[max(min, 1) .. max] at once (scaler.loop.direct); going to 0 (or idle) follows the same cooldown
rule.

The pause annotations act in both modes: `paused` / `paused-replicas` stop the executor and the HPA
(KEDA deletes it); `paused-scale-in` / `-out` stop that direction.

Every evaluation becomes a `Decision`, passed to `on_decision` and logged as one key=value line.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from kafkakit.logs import log_event
from scaler.errors import TargetError
from scaler.keda.executor import Executor, ExecutorDecision
from scaler.keda.hpa import Hpa
from scaler.keda.lag import LagCalculator, LagReport
from scaler.loop.calls import Evaluation, ScalerCalls
from scaler.loop.clock import Clock, SystemClock
from scaler.loop.config import ScalingConfig
from scaler.loop.decision import MODES, Decision, Mode, PartitionLagSample, Path
from scaler.loop.direct import DirectSizing
from scaler.loop.offsets import OffsetSource
from scaler.loop.replicas import ReplicaTarget

# Decision and friends live in scaler.loop.decision; re-exported because callers know them from here.
__all__ = ["MODES", "Decision", "Mode", "PartitionLagSample", "Path", "ScalingLoop"]

_log = logging.getLogger("scaler.loop")


class ScalingLoop:
    """Drives one target from one trigger. `step()` runs whatever is due next; `run()` repeats it."""

    def __init__(
        self,
        config: ScalingConfig,
        source: OffsetSource,
        target: ReplicaTarget,
        *,
        clock: Clock | None = None,
        on_decision: Callable[[Decision], None] | None = None,
        created_ago: float | None = None,
    ) -> None:
        """The one way a loop is built, for `scale`, `demo` and `simulate` alike. `created_ago`:
        seconds from the ScaledObject's creationTimestamp to now, when known."""
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {config.mode!r}")
        self.config = config
        self.target = target
        self.spec = config.spec
        self.hpa_spec = config.hpa
        self.mode: Mode = config.mode
        self.clock: Clock = clock or SystemClock()
        self.on_decision = on_decision
        self.use_cached_metrics = config.use_cached_metrics
        started = self.clock.now()
        # Without a creationTimestamp the object was created just before the first poll, so with
        # initialCooldownPeriod 0 (the default) that poll may already scale in, as in KEDA.
        created_at = math.nextafter(started, -math.inf) if created_ago is None else started - created_ago
        self.executor = Executor(config.spec, created_at=created_at, pause=config.pause)
        self.hpa = Hpa(self.hpa_spec, config.fixes)
        calculator = LagCalculator(config.trigger, config.fixes)
        self.calls = ScalerCalls(source, calculator, self.clock, config.spec.fallback)
        self.threshold = config.trigger.lag_threshold  # also the HPA's target
        self.direct = DirectSizing(config.spec, self.threshold, config.pause)
        self._next_poll = started
        self._next_hpa_sync = started
        self._last_poll_report: LagReport | None = None

    # -- scheduling ------------------------------------------------------------------------------

    def next_due(self) -> float:
        """When the next evaluation is due (clock time)."""
        if self.mode == "keda":
            return min(self._next_poll, self._next_hpa_sync)
        return self._next_poll

    def step(self, stop: threading.Event | None = None) -> list[Decision]:
        """Wait for the next due evaluation(s) and run them: the poll first, then the HPA sync."""
        if self.clock.wait(self.next_due() - self.clock.now(), stop):
            return []
        now = self.clock.now()
        decisions: list[Decision] = []
        if now >= self._next_poll:
            self._next_poll = _next_tick(self._next_poll, self.spec.polling_interval, now)
            decisions.append(self._emit(self._poll(now)))
        if self.mode == "keda" and now >= self._next_hpa_sync:
            try:
                decision = self._hpa_sync(now)
            finally:
                # kube-controller-manager requeues an HPA one sync period after it has finished with
                # it (a rate-limited workqueue), so syncs drift later rather than keep a fixed rate:
                # a scale event is then always more than 3 syncs old at the third sync after it.
                self._next_hpa_sync = self.clock.now() + self.hpa_spec.sync_period_seconds
            if decision is not None:
                decisions.append(self._emit(decision))
        return decisions

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set. A failing step is logged and the next one runs on schedule: a
        scaler that dies would leave the workload at whatever size it had."""
        while not stop.is_set():
            try:
                self.step(stop)
            except TargetError as error:
                log_event(_log, "target_error", logging.ERROR, target=self.target.name, error=str(error))
            except Exception as error:  # a bug or an unexpected client error: keep scaling
                log_event(_log, "step_failed", logging.ERROR, error=f"{type(error).__name__}: {error}")

    # -- evaluation ------------------------------------------------------------------------------

    @property
    def fallback_active(self) -> bool:
        return self.calls.fallback_active

    def _fallback_metric(self, current: int) -> float:
        assert self.calls.fallback is not None
        # Direct mode sizes by AverageValue whatever the trigger says, so it needs no ready pods.
        metric_type = self.hpa_spec.target_type if self.mode == "keda" else "AverageValue"
        return self.calls.fallback.metric(self.threshold, current, metric_type=metric_type)

    # -- the KEDA poll (executor) ----------------------------------------------------------------

    def _poll(self, now: float) -> Decision:
        evaluation = self.calls.evaluate()
        self._last_poll_report = evaluation.report
        current = self.target.current_replicas()
        report = evaluation.report
        errored = report is None
        active = report.active if report is not None else self.fallback_active
        executor = self.executor.decide(active, errored and not self.fallback_active, current, now)
        if self.mode == "keda" or self.executor.pause.stops_autoscaling:
            desired, reason = self._keda_poll(executor, current, now)
        else:
            desired, reason = self._direct_poll(executor, report, active, current, now)
        reason = self._annotate(reason, evaluation)
        return self._apply(
            now, "poll", evaluation, active=active, current=current, desired=desired, reason=reason
        )

    def _keda_poll(self, executor: ExecutorDecision, current: int, now: float) -> tuple[int, str]:
        if executor.replicas is None:
            return current, self._with_cooldown(executor.reason, executor, now)
        return executor.replicas, executor.reason

    def _direct_poll(
        self,
        executor: ExecutorDecision,
        report: LagReport | None,
        active: bool,
        current: int,
        now: float,
    ) -> tuple[int, str]:
        if report is None:
            if self.fallback_active:
                desired, reason = self.direct.fallback(self._fallback_metric(current))
                return self.direct.respect_paused_direction(desired, current, reason)
            if executor.replicas is not None:
                return executor.replicas, executor.reason
            return current, f"{executor.reason}; holding {current}"
        proportional, why = self.direct.proportional(report)
        if active:
            return self.direct.respect_paused_direction(proportional, current, f"active: {why}")
        if executor.replicas is not None:
            return executor.replicas, executor.reason
        if current >= self.direct.lowest_running:
            reason = self._with_cooldown(f"inactive: {why}", executor, now)
            return self.direct.respect_paused_direction(proportional, current, reason)
        return current, self._with_cooldown(executor.reason, executor, now)

    def _with_cooldown(self, reason: str, executor: ExecutorDecision, now: float) -> str:
        """Append how long KEDA still waits before scaling in, when it is waiting."""
        if not executor.reason.startswith("ScalerCooldown"):
            return reason
        return f"{reason}; cooldown remaining {max(self.executor.cooldown_ends() - now, 0):g}s"

    # -- the HPA sync ----------------------------------------------------------------------------

    def _hpa_sync(self, now: float) -> Decision | None:
        if self.executor.pause.stops_autoscaling:
            return None  # KEDA deletes the HPA of a paused ScaledObject
        current = self.target.current_replicas()
        if current == 0 and self.hpa_spec.min_replicas != 0:
            return None  # ScalingDisabled: the HPA does not even ask for the metric
        if self.use_cached_metrics and self._last_poll_report is not None:
            evaluation = Evaluation(self._last_poll_report, None, 0.0)
        else:
            evaluation = self.calls.evaluate()
        report = evaluation.report
        if report is not None:
            metric: float = report.metric
            pinned = report.pinned_replicas
        elif self.fallback_active:
            metric, pinned = self._fallback_metric(current), None
        else:
            reason = f"FailedGetExternalMetric: holding {current}"
            reason = self._annotate(reason, evaluation)
            return self._apply(
                now, "hpa", evaluation, active=False, current=current, desired=current, reason=reason
            )
        decision = self.hpa.evaluate(metric, current, now, pinned_replicas=pinned)
        reason = f"HPA: {decision.reason}"  # names the proposal, the tolerance and any limit
        return self._apply(
            now,
            "hpa",
            evaluation,
            active=report.active if report is not None else True,
            current=current,
            desired=decision.replicas,
            reason=self._annotate(reason, evaluation),
            metric=metric,
        )

    # -- shared ----------------------------------------------------------------------------------

    def _annotate(self, reason: str, evaluation: Evaluation) -> str:
        """Prefix errors and fallback, suffix the partition cap, so the line says everything."""
        report = evaluation.report
        if report is None:
            prefix = f"error ({self.calls.failures} consecutive): {evaluation.error}"
            fallback = self.calls.fallback
            if fallback is not None and fallback.active:
                prefix += (
                    f"; fallback active ({fallback.failures} failures > "
                    f"failureThreshold {fallback.fallback.failure_threshold})"
                )
            return f"{prefix}; {reason}"
        if report.capped:
            reason += f"; metric capped at {report.cap_upper} partitions x {self.threshold:g}"
        return reason

    def _apply(
        self,
        now: float,
        path: Path,
        evaluation: Evaluation,
        *,
        active: bool,
        current: int,
        desired: int,
        reason: str,
        metric: float | None = None,
    ) -> Decision:
        report = evaluation.report
        if desired != current:
            self.target.set_replicas(desired)
        return Decision(
            time=now,
            mode=self.mode,
            path=path,
            active=active,
            metric=metric if metric is not None else (report.metric if report is not None else None),
            total_lag=report.total_lag if report is not None else None,
            current=current,
            desired=desired,
            reason=reason,
            error=evaluation.error,
            partitions=_samples(report),
            duration_seconds=evaluation.duration,
        )

    def _emit(self, decision: Decision) -> Decision:
        level = logging.WARNING if decision.error else logging.INFO
        log_event(_log, "decision", level, target=self.target.name, **decision.fields())
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision


def _next_tick(scheduled: float, interval: float, now: float) -> float:
    """Fixed-rate schedule; after a long evaluation, skip missed ticks instead of bursting."""
    following = scheduled + interval
    return following if following > now else now + interval


def _samples(report: LagReport | None) -> tuple[PartitionLagSample, ...]:
    if report is None:
        return ()
    return tuple(PartitionLagSample(p.topic, p.partition, p.lag) for p in report.partitions)
