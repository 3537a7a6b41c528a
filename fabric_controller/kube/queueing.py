"""The per-key engine (kopf's model): events go into a per-key slot; one worker per key runs
the handler on the *latest* event of its key, so a key is never handled twice at once while
different keys proceed in parallel.

A handler returns ``None`` (done) or a number of seconds after which to look at the key again
(a scheduled re-check, e.g. the end of a grace period). It raises ``TemporaryError(delay)``
to be retried after ``delay`` or an exponential backoff, ``PermanentError`` to give up on
this event. A newer event for the key always interrupts a wait and resets the failure count;
after ``retry_limit`` failures in a row the key waits for its next event (or resync).
A worker with nothing to do for ``worker_idle_timeout`` exits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fabric_controller.kube.clock import Clock, backoff, wait_event
from fabric_controller.kube.errors import PermanentError, TemporaryError
from fabric_controller.kube.metrics import KubeMetrics
from fabric_controller.kube.objects import WatchEvent
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.tasks import cancel_all

log = logging.getLogger("flatnet.controller.kube")

Handler = Callable[[str, WatchEvent], Awaitable[float | None]]


@dataclass
class _Slot:
    pending: WatchEvent | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class KeyedQueue:
    def __init__(
        self,
        handler: Handler,
        *,
        name: str,
        settings: KubeSettings,
        clock: Clock,
        metrics: KubeMetrics,
    ) -> None:
        self.handler = handler
        self.name = name
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self._slots: dict[str, _Slot] = {}
        self._closed = False

    def submit(self, event: WatchEvent) -> None:
        """Make ``event`` the latest state of its key (the object's name) and make sure a
        worker sees it."""
        if self._closed:
            return
        key = event.name
        slot = self._slots.setdefault(key, _Slot())
        slot.pending = event
        slot.wake.set()
        if slot.task is None or slot.task.done():
            slot.task = asyncio.create_task(self._work(key, slot), name=f"{self.name}:{key}")

    def keys(self) -> list[str]:
        return sorted(self._slots)

    async def close(self) -> None:
        """Stop every worker (a running handler is cancelled) and wait for them."""
        self._closed = True
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        self._slots.clear()
        await cancel_all(tasks)

    async def _work(self, key: str, slot: _Slot) -> None:
        current: WatchEvent | None = None
        failures = 0
        while not self._closed:
            if slot.pending is not None:
                current, slot.pending = slot.pending, None
                slot.wake.clear()
                failures = 0
            if current is None:
                woke = await wait_event(self.clock, slot.wake, self.settings.worker_idle_timeout)
                if not woke and slot.pending is None:
                    if self._slots.get(key) is slot:
                        del self._slots[key]
                    return
                continue
            delay, failures = await self._attempt(key, current, failures)
            if delay is None:
                current = None
            else:
                await wait_event(self.clock, slot.wake, delay)

    async def _attempt(
        self, key: str, event: WatchEvent, failures: int
    ) -> tuple[float | None, int]:
        """Run the handler once; return (seconds until the next run or None, failures)."""
        context = {"queue": self.name, "key": key, "node": key}
        try:
            after = await self.handler(key, event)
        except TemporaryError as exc:
            failures += 1
            delay = exc.delay if exc.delay is not None else self._backoff(failures)
            log.warning("handler will retry in %.1fs: %s", delay, exc, extra=context)
        except PermanentError as exc:
            log.error("handler gave up on this event: %s", exc, extra=context)
            self.metrics.handler_runs.labels(self.name, "permanent").inc()
            return None, 0
        except Exception:
            failures += 1
            delay = self._backoff(failures)
            log.exception("handler failed; retrying in %.1fs", delay, extra=context)
        else:
            outcome = "ok" if after is None else "requeued"
            self.metrics.handler_runs.labels(self.name, outcome).inc()
            return after, 0
        if failures >= self.settings.retry_limit:
            log.error("handler failed %d times; waiting for a new event", failures, extra=context)
            self.metrics.handler_runs.labels(self.name, "gave_up").inc()
            return None, 0
        self.metrics.handler_runs.labels(self.name, "retry").inc()
        return delay, failures

    def _backoff(self, failures: int) -> float:
        return backoff(
            attempt=failures,
            initial=self.settings.backoff_initial,
            maximum=self.settings.backoff_max,
        )
