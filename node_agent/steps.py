"""Running a multi-step kernel change safely.

Changes to one pod run one at a time (a lock per key, never a global lock), and
a change that fails part-way is undone newest step first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
