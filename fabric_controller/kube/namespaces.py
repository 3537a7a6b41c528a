"""Pool selection for pods: the ``flatnet.io/pool`` annotation of every namespace, kept from a
namespace watch and published on the controller's API for the node agents.

Every replica watches (no leader needed: it only reads). A value that is not a valid pool
name is published with its error and no pool, so the agent falls back to its default pool
and an operator sees why.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from fabric_controller.kube.client import KubeApi
from fabric_controller.kube.clock import Clock
from fabric_controller.kube.objects import NAMESPACES, EventType, WatchEvent, annotations_of
from fabric_controller.kube.settings import KubeSettings
from fabric_controller.kube.tasks import run_until
from fabric_controller.kube.watching import Watcher
from ipam_service.schemas import NAME_RE

log = logging.getLogger("flatnet.controller.kube")
_POOL_NAME = re.compile(NAME_RE)


@dataclass(frozen=True)
class NamespacePool:
    namespace: str
    pool: str | None
    """The pool the namespace's pods get addresses from; None: the agent's default."""
    error: str | None = None
    """Why an annotation present on the namespace was not taken."""


class NamespacePools:
    """namespace -> pool, with a version that moves at every change (an ETag for pollers)."""

    def __init__(self, *, annotation: str = "flatnet.io/pool") -> None:
        self.annotation = annotation
        self._items: dict[str, NamespacePool] = {}
        self.version = 0
        self.synced = False
        """True once the first list has been applied."""

    def get(self, namespace: str) -> NamespacePool | None:
        return self._items.get(namespace)

    def items(self) -> list[NamespacePool]:
        return [self._items[name] for name in sorted(self._items)]

    def apply(self, event: WatchEvent) -> None:
        name = event.name
        if event.type is EventType.DELETED:
            changed = self._items.pop(name, None) is not None
        else:
            entry = self._entry(name, annotations_of(event.object).get(self.annotation))
            changed = self._items.get(name) != entry
            self._items[name] = entry
        if changed:
            self.version += 1

    def _entry(self, namespace: str, value: str | None) -> NamespacePool:
        if value is None or value == "":
            return NamespacePool(namespace=namespace, pool=None)
        if _POOL_NAME.fullmatch(value) is None or len(value) > 63:
            error = f"annotation {self.annotation}={value!r} is not a pool name"
            log.warning(error, extra={"namespace": namespace})
            return NamespacePool(namespace=namespace, pool=None, error=error)
        return NamespacePool(namespace=namespace, pool=value)


async def watch_namespaces(
    api: KubeApi,
    pools: NamespacePools,
    *,
    settings: KubeSettings,
    clock: Clock,
    stop: asyncio.Event,
) -> None:
    """Keep ``pools`` up to date until ``stop``."""
    watcher = Watcher(api, NAMESPACES, settings=settings, clock=clock, deliver=pools.apply)

    async def mark_synced() -> None:
        await watcher.synced.wait()
        pools.synced = True
        log.info("namespace pools synced: %d namespaces", len(pools.items()))
        await stop.wait()

    await run_until(stop, watcher.run(stop), mark_synced())
