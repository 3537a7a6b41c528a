"""The agent as one object: build the parts, start the loops, stop gracefully.

Start-up order (each step safe to repeat after a crash):

1. open SQLite; if it is new but the kernel carries our veths, rebuild from them;
2. turn on forwarding; blackholes and announcements for every held block;
3. reconcile once (repairs routes, marks vanished containers, deletes orphans);
4. background: register with IPAM (retrying), then finish pending claims and
   keep the warm spare; the outbox; periodic reconcile.

The local API is served by :mod:`node_agent.main` as soon as :meth:`Agent.start`
returns, so ADDs are answered from the held blocks even while IPAM is down.
Stop: refuse new ADDs, let requests finish, cancel the loops, wait for pending
veth deletions, stop the announcer without withdrawing (graceful restart keeps
the routes at the ToR), close everything.

Drain (:meth:`Agent.drain`, before a planned shutdown): claims stop, then every
route is withdrawn and stays withdrawn; ADD and CNI STATUS answer "try again later"
/ not ready. Reconcile passes go on (blackholes, releases, orphans) but announce
nothing. It lasts until :meth:`Agent.undrain` or the end of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any

from node_agent.allocator import BlockUsage
from node_agent.announcer import Announcer, NullAnnouncer
from node_agent.bgpreport import report_sessions
from node_agent.blocks import BlockManager
from node_agent.config import AgentSettings
from node_agent.errors import AgentError, IpamError
from node_agent.ipamclient import IpamClient
from node_agent.metrics import Metrics
from node_agent.netlink import Netlink
from node_agent.outbox import Outbox
from node_agent.parts import Kernel, Parts
from node_agent.queries import Queries
from node_agent.reconcile import Reconciler, adopt_from_kernel
from node_agent.records import Attachment, PendingClaim
from node_agent.service import AttachmentService
from node_agent.store import Store

log = logging.getLogger("flatnet.agent")


def build_parts(
    settings: AgentSettings, *, announcer: Announcer | None = None, metrics: Metrics | None = None
) -> Parts:
    netlink = Netlink(
        host_netns=settings.host_netns,
        route_protocol=settings.route_protocol,
        host_prefix=settings.host_ifname_prefix,
    )
    return Parts(
        settings=settings,
        store=Store(settings.database_path),
        ipam=IpamClient(
            base_url=settings.ipam_url,
            node=settings.node_name,
            token=settings.token(),
            timeout=settings.ipam_timeout,
        ),
        kernel=Kernel(netlink, workers=settings.netlink_workers),
        announcer=announcer or NullAnnouncer(),
        metrics=metrics or Metrics(),
    )


class Agent:
    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self.blocks = BlockManager(parts)
        self.outbox = Outbox(parts, self.blocks)
        self.service = AttachmentService(parts, blocks=self.blocks, outbox=self.outbox)
        self.reconciler = Reconciler(parts, service=self.service, blocks=self.blocks)
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at: float | None = None

    @property
    def settings(self) -> AgentSettings:
        return self.p.settings

    async def start(self) -> None:
        p = self.p
        await p.store.open()
        if p.store.fresh:
            await adopt_from_kernel(p)
        await p.kernel(p.netlink.enable_forwarding)
        await p.announcer.start()
        await self.blocks.sync_routes()
        await self.reconciler.once_logged()
        self._spawn(self._ipam_session(), "ipam-session")
        self._spawn(self.outbox.run(), "outbox")
        self._spawn(self.reconciler.run(), "reconcile")
        if self.settings.bgp_peers:
            self._spawn(report_sessions(p), "bgp-report")
        self.started_at = p.clock()
        log.info("node agent started", extra={"socket": str(self.settings.socket_path)})

    async def _ipam_session(self) -> None:
        """Register (retrying with back-off), finish pending claims, fill the warm spare.

        A claim that fails for another reason than IPAM (ExaBGP not acknowledging) stays
        pending; the reconcile loop finishes it.
        """
        s = self.settings
        delay = s.ipam_retry_min
        for _ in range(1_000_000):
            try:
                await self.blocks.register()
                await self._resume_pending()
                await self.blocks.tick()
                return
            except IpamError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, s.ipam_retry_max)

    async def _resume_pending(self) -> None:
        try:
            await self.blocks.resume_pending()
        except IpamError:
            raise
        except AgentError as exc:
            self.p.health.error(source="claim", message=str(exc), now=self.p.clock())
            log.warning("finishing a pending claim failed", extra={"error": str(exc)})

    async def drain(self) -> None:
        """Withdraw every route and keep it withdrawn; refuse new pods and claims."""
        self.blocks.drained = True
        await self.p.announcer.drain()
        log.warning("drained: every route withdrawn; no new pod until undrained or restarted")

    async def undrain(self) -> None:
        """End a drain: announce the node's blocks again and take new pods."""
        await self.p.announcer.undrain()
        self.blocks.drained = False
        await self.blocks.sync_routes()
        log.warning("undrained: the node's blocks are announced again")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"flatnet-{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "background task died", exc_info=task.exception(), extra={"task": task.get_name()}
        )

    async def stop(self) -> None:
        """Stop the loops and close the parts; call after the API stopped accepting."""
        self.service.stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.blocks.stop()
        await self.service.reaper.drain()
        with contextlib.suppress(Exception):
            await self.p.announcer.stop()
        await self.p.ipam.close()
        await self.p.store.close()
        await asyncio.get_running_loop().run_in_executor(None, self.p.kernel.close)
        log.info("node agent stopped")

    async def status_document(self) -> dict[str, Any]:
        """Everything ``flatnet agent status`` shows (``GET /v1/status``)."""
        p = self.p

        def read(q: Queries) -> _Snapshot:
            usage, pending, atts = q.block_usage(), q.pending_claims(), q.attachments()
            return usage, pending, atts, q.outbox_depth(), q.dead_letter_count()

        blocks, pending, atts, depth, dead = await p.store.transact(read)
        plan = await self.blocks.plan()
        ready = await self.service.status()
        health = p.health
        return {
            "node": self.settings.node_name,
            "node_ip": str(self.settings.node_ip),
            "ready": ready.ready,
            "reason": ready.reason,
            "drained": self.blocks.drained,
            "started_at": self.started_at,
            "ipam": {
                "url": self.settings.ipam_url,
                "reachable": health.ipam_ok,
                "registered": health.registered,
                "last_ok": health.ipam_last_ok,
            },
            "pools": [
                {
                    "pool": pool,
                    "free": plan.free.get(pool, 0),
                    "exhausted": pool in self.blocks.exhausted,
                }
                for pool in self.settings.pools
            ],
            "blocks": [
                {
                    "cidr": str(b.cidr),
                    "pool": b.pool,
                    "state": "ready" if b.ready else "releasing",
                    "used": len(b.used),
                    "capacity": b.capacity,
                    "empty_since": b.empty_since,
                }
                for b in blocks
            ],
            "pending_claims": [
                {"request_id": c.request_id, "pool": c.pool, "cidr": c.cidr and str(c.cidr)}
                for c in pending
            ],
            "allocations": [_allocation_row(a) for a in atts],
            "outbox": {"depth": depth, "dead_letters": dead, "backoff": self.outbox.backoff},
            "links_pending_delete": len(self.service.reaper.pending()),
            "last_reconcile": None
            if self.reconciler.last is None
            else asdict(self.reconciler.last),
            "errors": [asdict(e) for e in health.errors()],
            "announcer": asdict(p.announcer.status()),
        }


_Snapshot = tuple[list[BlockUsage], list[PendingClaim], list[Attachment], int, int]


def _allocation_row(att: Attachment) -> dict[str, Any]:
    return {
        "network": att.key.network,
        "container_id": att.key.container_id,
        "ifname": att.key.ifname,
        "ips": [str(ip) for ip in att.ips],
        "pod": f"{att.pod.namespace}/{att.pod.name}" if att.pod.name else "",
        "state": att.state.value,
        "host_ifname": att.host_ifname,
        "netns": att.netns,
        "missing_since": att.missing_since,
    }
