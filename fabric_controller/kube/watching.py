"""List-then-watch with a local cache (an informer, in client-go's words).

The watcher lists a resource, hands every object to ``deliver``, then watches from the list's
resourceVersion. BOOKMARK events only move the version on, so a quiet watch can resume after
a compaction. A ``410 Gone`` (HTTP status or ERROR event) means events were lost: the watcher
lists again and hands over the *difference* with its cache, so a Node deleted while nobody
watched still arrives as DELETED (with its last known state). Every ``resync_period`` the
whole cache is handed over again as MODIFIED: handlers are level-triggered and idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fabric_controller.kube.client import KubeApi
from fabric_controller.kube.clock import Clock, backoff, wait_event
from fabric_controller.kube.errors import KubeApiError, KubeUnavailableError, WatchExpiredError
from fabric_controller.kube.objects import (
    EventType,
    Object,
    Resource,
    WatchEvent,
    name_of,
    resource_version_of,
)
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.tasks import run_until

log = logging.getLogger("flatnet.controller.kube")

Deliver = Callable[[WatchEvent], None]


class Watcher:
    def __init__(
        self,
        api: KubeApi,
        resource: Resource,
        *,
        settings: KubeSettings,
        clock: Clock,
        deliver: Deliver,
    ) -> None:
        self.api = api
        self.resource = resource
        self.settings = settings
        self.clock = clock
        self.deliver = deliver
        self.cache: dict[str, Object] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        """Set once the first list has been handed over."""
        self.lists = 0
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set; API trouble is retried with backoff, never raised."""
        await run_until(stop, self._run(stop), self._resync(stop))

    async def _run(self, stop: asyncio.Event) -> None:
        need_list = True
        while not stop.is_set():
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                await self.watch_once()
                self.failures = 0
            except WatchExpiredError:
                log.info("watch expired, listing again", extra=self._context())
                need_list = True
            except (KubeUnavailableError, KubeApiError) as exc:
                self.failures += 1
                delay = backoff(
                    attempt=self.failures,
                    initial=self.settings.watch_backoff_initial,
                    maximum=self.settings.watch_backoff_max,
                )
                log.warning(
                    "watch failed: %s; retrying in %.1fs", exc, delay, extra=self._context()
                )
                await wait_event(self.clock, stop, delay)

    async def relist(self) -> None:
        """List, hand over the difference with the cache, and restart from the list's version."""
        listed = await self.api.list(self.resource)
        self.lists += 1
        fresh = {name_of(obj): obj for obj in listed.items}
        for name, last in list(self.cache.items()):
            if name not in fresh:
                del self.cache[name]
                self.deliver(WatchEvent(EventType.DELETED, last))
        for name, obj in fresh.items():
            old = self.cache.get(name)
            self.cache[name] = obj
            if old is None:
                self.deliver(WatchEvent(EventType.ADDED, obj))
            elif resource_version_of(old) != resource_version_of(obj):
                self.deliver(WatchEvent(EventType.MODIFIED, obj))
        self.resource_version = listed.resource_version
        self.synced.set()

    async def watch_once(self) -> None:
        """One watch request, until the server ends it; raises what the adapter raises."""
        stream = self.api.watch(
            self.resource,
            resource_version=self.resource_version,
            timeout_seconds=self.settings.watch_timeout,
        )
        async with contextlib.aclosing(stream):
            async for event in stream:
                self.failures = 0
                if event.resource_version:
                    self.resource_version = event.resource_version
                if event.type is EventType.BOOKMARK:
                    continue
                self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        name = event.name
        if event.type is EventType.DELETED:
            self.cache.pop(name, None)
        else:
            self.cache[name] = event.object
        self.deliver(event)

    async def _resync(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await wait_event(self.clock, stop, self.settings.resync_period):
                return
            if self.synced.is_set():
                for obj in list(self.cache.values()):
                    self.deliver(WatchEvent(EventType.MODIFIED, obj))

    def _context(self) -> dict[str, str]:
        return {"resource": self.resource.plural, "resource_version": self.resource_version}
