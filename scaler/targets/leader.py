"""Leader election on a coordination.k8s.io/v1 Lease, so only one scaler replica acts at a time.

Same rules as client-go's leaderelection: the holder renews `renewTime`; a candidate takes over
only after it has seen the lease record unchanged for `lease_seconds` (measured on its own clock,
so clock skew between replicas does not matter), or at once when the holder released it. Writes
carry the read `resourceVersion`, so of two racing candidates exactly one wins (the other gets 409).
The caller owns the loop and the clock: call `try_acquire_or_renew(now)` every `renew_seconds`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from scaler.errors import TargetError
from scaler.targets.kubernetes import call_api

_LEASES = "leases.coordination.k8s.io"


def _micro_time(moment: datetime) -> str:
    """A Lease MicroTime. The API server wants exactly six fractional digits, but the client
    re-serialises times with isoformat(), which drops a zero fraction (HTTP 400), so a whole
    second is shifted by 1 µs."""
    utc = moment.astimezone(UTC)
    if utc.microsecond == 0:
        utc = utc.replace(microsecond=1)
    return utc.isoformat()


class LeaderElector:
    """One candidate for the Lease `namespace/lease_name`, identified by `identity` (e.g. pod name)."""

    def __init__(
        self,
        lease_name: str,
        namespace: str,
        identity: str,
        api_client: client.ApiClient,
        *,
        lease_seconds: int = 15,
        renew_seconds: int = 5,
    ) -> None:
        if not 0 < renew_seconds < lease_seconds:
            message = f"need 0 < renew_seconds ({renew_seconds}) < lease_seconds ({lease_seconds})"
            raise ValueError(message)
        self.lease_name = lease_name
        self.namespace = namespace
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self._leases = client.CoordinationV1Api(api_client)
        self._observed_version: str | None = None
        self._observed_at: datetime | None = None
        self._renewed_at: datetime | None = None

    def is_leader(self, now: datetime) -> bool:
        """Leading = renewed recently enough that nobody else can have taken over yet.

        We stop one renew period before the lease could expire for the others: a safety margin.
        """
        if self._renewed_at is None:
            return False
        deadline = timedelta(seconds=self.lease_seconds - self.renew_seconds)
        return now < self._renewed_at + deadline

    def try_acquire_or_renew(self, now: datetime) -> bool:
        """Take or keep the lease; True while this candidate leads. `now` must be timezone-aware."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware, e.g. datetime.now(UTC)")
        try:
            return self._acquire_or_renew(now)
        except TargetError as error:
            if not error.retriable:
                raise
            return self.is_leader(now)  # an API blip does not end leadership before the deadline

    def _acquire_or_renew(self, now: datetime) -> bool:
        lease = self._read()
        if lease is None:
            return self._write(self._new_body(now), now, create=True)
        self._observe(lease, now)
        holder = lease.spec.holder_identity or ""
        if holder != self.identity and holder and not self._expired(lease, now):
            self._renewed_at = None
            return False
        return self._write(self._renewal_body(lease, now), now, create=False)

    def release(self) -> None:
        """Hand the lease back (empty holder) so another candidate need not wait for expiry."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        lease = self._read()
        if lease is None or lease.spec.holder_identity != self.identity:
            return
        body = self._renewal_body(lease, lease.spec.renew_time or datetime.now(UTC))
        body["spec"].update(holderIdentity=None, leaseDurationSeconds=1)
        self._write(body, None, create=False)

    def _read(self) -> Any:
        def read() -> Any:
            try:
                return self._leases.read_namespaced_lease(self.lease_name, self.namespace)
            except ApiException as error:
                if error.status == 404:
                    return None
                raise

        return call_api("get", _LEASES, self.namespace, read, object_name=self.lease_name)

    def _observe(self, lease: Any, now: datetime) -> None:
        version = lease.metadata.resource_version
        if version != self._observed_version:
            self._observed_version = version
            self._observed_at = now

    def _expired(self, lease: Any, now: datetime) -> bool:
        assert self._observed_at is not None  # set by _observe before any expiry check
        duration = timedelta(seconds=lease.spec.lease_duration_seconds or self.lease_seconds)
        return now >= self._observed_at + duration

    def _new_body(self, now: datetime) -> dict[str, Any]:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.lease_name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": _micro_time(now),
                "renewTime": _micro_time(now),
                "leaseTransitions": 0,
            },
        }

    def _renewal_body(self, lease: Any, now: datetime) -> dict[str, Any]:
        body = self._new_body(now)
        body["metadata"]["resourceVersion"] = lease.metadata.resource_version
        transitions = lease.spec.lease_transitions or 0
        if lease.spec.holder_identity == self.identity and lease.spec.acquire_time is not None:
            body["spec"]["acquireTime"] = _micro_time(lease.spec.acquire_time)
        else:  # taking over (from a holder, or after a release) is a transition, as in client-go
            transitions += 1
        body["spec"]["leaseTransitions"] = transitions
        return body

    def _write(self, body: Any, now: datetime | None, *, create: bool) -> bool:
        def send() -> bool:
            try:
                if create:
                    self._leases.create_namespaced_lease(self.namespace, body)
                else:
                    self._leases.replace_namespaced_lease(self.lease_name, self.namespace, body)
            except ApiException as error:
                if error.status == 409:  # another candidate wrote first: it leads
                    return False
                raise
            return True

        verb = "create" if create else "update"
        written = call_api(verb, _LEASES, self.namespace, send, object_name=self.lease_name)
        self._renewed_at = now if written else None
        return written
