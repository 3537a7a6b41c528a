"""Leader election through a ``coordination.k8s.io/v1`` Lease, as client-go does it.

A replica *acquires* the Lease when it does not exist, is released (no holder), or has not
changed for ``leaseDurationSeconds`` as measured on this replica's own monotonic clock since
it last saw it change (so clock skew between replicas does not matter). Every write carries
the ``resourceVersion`` it read: of two replicas racing for the same Lease exactly one gets
through, the other gets 409 Conflict and stays a follower.

The leader renews every ``retry_period``. When it has not managed to renew for
``renew_deadline`` (shorter than the lease duration), or it sees another holder, it stops its
work *before* anybody else may take over. On shutdown it releases the Lease so a follower
takes over at its next attempt instead of waiting out the duration.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fabric_controller.kube.client import KubeApi
from fabric_controller.kube.clock import Clock, wait_event
from fabric_controller.kube.errors import KubeError, ObjectConflict, ObjectNotFound
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import LEASES, LeaseRecord
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.tasks import run_until

log = logging.getLogger("flatnet.controller.kube")

Work = Callable[[], Coroutine[Any, Any, None]]


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        settings: KubeSettings,
        clock: Clock,
        metrics: KubeMetrics,
        identity: str | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.identity = identity or settings.identity or default_identity()
        self.observed: LeaseRecord | None = None
        self.observed_at = 0.0
        self.leading = False

    def is_leader(self) -> bool:
        return self.leading

    async def run(self, work: Work, stop: asyncio.Event) -> None:
        """Campaign until ``stop``; run ``work()`` while leading and cancel it when not."""
        while not stop.is_set():
            if await self.try_acquire_or_renew():
                await self._lead(work, stop)
            await wait_event(self.clock, stop, self.settings.retry_period)

    async def _lead(self, work: Work, stop: asyncio.Event) -> None:
        self.leading = True
        self.metrics.is_leader.set(1)
        self.metrics.leader_transitions.labels("gained").inc()
        log.info("became leader", extra={"identity": self.identity})
        try:
            await run_until(stop, self._guarded(work), self._renew())
        finally:
            self.leading = False
            self.metrics.is_leader.set(0)
            self.metrics.leader_transitions.labels("lost").inc()
            log.info("stopped leading", extra={"identity": self.identity})
        if stop.is_set():
            await self.release()

    async def _guarded(self, work: Work) -> None:
        """Run the work; if it crashes, step down (the renew loop then ends the term)."""
        try:
            await work()
        except Exception:
            log.exception("leader work failed; stepping down", extra={"identity": self.identity})
        self.leading = False

    async def _renew(self) -> None:
        last = self.clock.monotonic()
        while self.leading:
            await self.clock.sleep(self.settings.retry_period)
            if not self.leading:
                return
            remaining = self.settings.renew_deadline - (self.clock.monotonic() - last)
            try:
                # a hung request must not keep us leading past the deadline
                async with asyncio.timeout(max(remaining, 0.001)):
                    renewed = await self.try_acquire_or_renew()
            except TimeoutError:
                renewed = False
            if renewed:
                last = self.clock.monotonic()
                continue
            if self.observed is not None and self.observed.holder not in ("", self.identity):
                log.warning("lease taken by %s", self.observed.holder)
                return
            if self.clock.monotonic() - last >= self.settings.renew_deadline:
                log.warning("could not renew the lease within the renew deadline")
                return

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease; True when this replica holds it now."""
        name, namespace = self.settings.lease_name, self.settings.lease_namespace
        now = self.clock.now()
        try:
            current = LeaseRecord.from_object(await self.api.get(LEASES, name, namespace=namespace))
        except ObjectNotFound:
            current = None
        except KubeError as exc:
            log.warning("reading the lease failed: %s", exc)
            return False
        except (ValueError, TypeError) as exc:  # somebody wrote garbage into the spec
            log.error("the lease cannot be read: %s", exc)
            return False
        if current is not None:
            self._observe(current)
            if current.holder not in ("", self.identity) and not self._expired(current):
                return False
        ours = current is not None and current.holder == self.identity
        record = LeaseRecord(
            holder=self.identity,
            duration_seconds=math.ceil(self.settings.lease_duration),
            acquire_time=current.acquire_time if ours and current is not None else now,
            renew_time=now,
            transitions=0 if current is None else current.transitions + (0 if ours else 1),
            resource_version="" if current is None else current.resource_version,
        )
        return await self._write(record, create=current is None)

    async def _write(self, record: LeaseRecord, *, create: bool) -> bool:
        name, namespace = self.settings.lease_name, self.settings.lease_namespace
        obj = record.to_object(name=name, namespace=namespace)
        try:
            if create:
                written = await self.api.create(LEASES, obj, namespace=namespace)
            else:
                written = await self.api.replace(LEASES, name, obj, namespace=namespace)
        except ObjectConflict:
            return False  # somebody else wrote first: we lost this round
        except KubeError as exc:
            log.warning("writing the lease failed: %s", exc)
            return False
        self._observe(LeaseRecord.from_object(written))
        return True

    async def release(self) -> None:
        """Give the Lease up (no holder) so a follower takes over at once."""
        observed = self.observed
        if observed is None or observed.holder != self.identity:
            return
        now = self.clock.now()
        record = LeaseRecord(
            holder="",
            duration_seconds=1,
            acquire_time=now,
            renew_time=now,
            transitions=observed.transitions,
            resource_version=observed.resource_version,
        )
        if await self._write(record, create=False):
            log.info("released the lease", extra={"identity": self.identity})

    def _observe(self, record: LeaseRecord) -> None:
        if record != self.observed:
            self.observed = record
            self.observed_at = self.clock.monotonic()

    def _expired(self, record: LeaseRecord) -> bool:
        return self.observed_at + record.duration_seconds <= self.clock.monotonic()
