"""Running a multi-step kernel change safely.

Changes to one pod run one at a time (a lock per key, never a global lock), and
a change that fails part-way is undone newest step first. :class:`KeyedLocks`
serialises threads (the netlink adapter), :class:`AsyncKeyedLocks` coroutines
(the agent's per-attachment locks).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from node_agent.errors import LinkNotFound, NetlinkError, RouteNotFound

log = logging.getLogger("flatnet.agent.netlink")


def roll_back(undo: list[Callable[[], None]]) -> None:
    """Run undo steps newest first; a failing step is logged, never raised over the cause."""
    for action in reversed(undo):
        try:
            action()
        except (LinkNotFound, RouteNotFound):
            pass
        except NetlinkError:
            log.warning("rollback step failed", exc_info=True)


class KeyedLocks:
    """One lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class AsyncKeyedLocks:
    """The asyncio twin of :class:`KeyedLocks`: one lock per key, for coroutines."""

    def __init__(self) -> None:
        self._locks: dict[object, tuple[asyncio.Lock, int]] = {}

    def busy(self, key: object) -> bool:
        """Whether someone holds or waits for ``key`` (reconcile skips such keys)."""
        return key in self._locks

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: object) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
