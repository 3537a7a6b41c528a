"""Deleting host veths in the background after DEL (``defer_link_delete``).

The kernel spends one RCU grace period (~25 ms here) on every veth it deletes.
DEL first removes the pod's host routes and releases its addresses, which cuts
the pod off and is durable; the veth itself goes here. A later ADD of the same
attachment waits for the pending deletion first (:meth:`Reaper.settle`), and if
the agent dies before a deletion ran, reconcile finds the veth as an orphan
(ours by name, no attachment) and deletes it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from node_agent.errors import NetlinkError
from node_agent.parts import Parts

log = logging.getLogger("flatnet.agent.reaper")


class Reaper:
    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self._pending: dict[str, asyncio.Task[None]] = {}
        # Deletions wait on the kernel for tens of milliseconds each; they get their
        # own threads so that they never queue in front of an ADD's netlink calls.
        self._pool = ThreadPoolExecutor(
            max_workers=parts.settings.link_delete_workers, thread_name_prefix="flatnet-reaper"
        )

    def schedule(self, host_ifname: str) -> None:
        if host_ifname in self._pending:
            return
        self._pending[host_ifname] = asyncio.ensure_future(self._reap(host_ifname))
        self.p.metrics.links_pending_delete.set(len(self._pending))

    async def _reap(self, host_ifname: str) -> None:
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self.p.netlink.unwire_pod, host_ifname)
        except NetlinkError as exc:
            log.warning(
                "deleting a host veth failed", extra={"link": host_ifname, "error": str(exc)}
            )
        finally:
            self._pending.pop(host_ifname, None)
            self.p.metrics.links_pending_delete.set(len(self._pending))

    async def settle(self, host_ifname: str) -> None:
        """Wait for a pending deletion of ``host_ifname`` to finish."""
        task = self._pending.get(host_ifname)
        if task is not None:
            await asyncio.shield(task)

    def pending(self) -> set[str]:
        return set(self._pending)

    async def drain(self) -> None:
        """Wait for every pending deletion, then release the threads (graceful stop)."""
        for _ in range(1000):
            tasks = list(self._pending.values())
            if not tasks:
                break
            await asyncio.gather(*(asyncio.shield(t) for t in tasks), return_exceptions=True)
        self._pool.shutdown(wait=False)
