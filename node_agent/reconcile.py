"""Periodic reconcile: make the kernel, the local state and the fabric agree.

One pass (:meth:`Reconciler.once`), kernel first, then state, so that an ADD
racing the pass is always seen through its record (ADD records before it wires)::

    links = our host veths (name prefix, with their routed pod addresses)
    atts  = attachments in SQLite
    wired attachment, veth present     repair missing host routes
    veth gone (container gone), or     mark missing_since; after release_grace:
      ADD never finished               log a JSON line, delete what is left of the
                                       veth, release (cooldown + ledger event)
    our veth without an attachment     delete it (an orphan: a crash between a
                                       release and the veth deletion)
    blocks                             full sync of blackholes and announcements
                                       (none while drained), warm spare, pending
                                       claims finished, return of empty blocks
    cooling                            purge expired entries

Keys that a CNI request holds are skipped; the next pass sees them again.

:func:`adopt_from_kernel` rebuilds the state when the database is new but the
kernel still carries our veths (the state directory was lost): attachments from
the veths' ``ifalias`` and routes, blocks from our blackhole routes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from node_agent.blocks import BlockManager
from node_agent.errors import AgentError, IpamError
from node_agent.parts import Parts
from node_agent.podnet import IPNetwork, PodLink
from node_agent.queries import Queries
from node_agent.records import Address, Attachment, Key, State
from node_agent.service import AttachmentService

log = logging.getLogger("flatnet.agent.reconcile")


@dataclass
class Report:
    routes_repaired: int = 0
    marked_missing: int = 0
    released: int = 0
    orphans_deleted: int = 0
    cooling_purged: int = 0


class Reconciler:
    def __init__(self, parts: Parts, *, service: AttachmentService, blocks: BlockManager) -> None:
        self.p = parts
        self.service = service
        self.blocks = blocks
        self.last: Report | None = None
        self._running = asyncio.Lock()

    async def run(self) -> None:
        """Reconcile every ``reconcile_interval`` seconds until :meth:`Agent.stop` cancels it."""
        while True:
            await asyncio.sleep(self.p.settings.reconcile_interval)
            await self.once_logged()

    async def once_logged(self) -> Report | None:
        try:
            return await self.once()
        except AgentError as exc:
            self.p.health.error(source="reconcile", message=str(exc), now=self.p.clock())
            log.warning("reconcile pass failed", extra={"error": str(exc)})
            return None

    async def once(self) -> Report:
        """One pass; passes never overlap (the loop and ``POST /v1/reconcile``)."""
        async with self._running:
            return await self._once()

    async def _once(self) -> Report:
        p = self.p
        started = p.clock()
        report = Report()
        links = await p.kernel(p.netlink.list_pod_links)
        atts = await p.store.transact(lambda q: q.attachments())
        by_name = {link.host_ifname: link for link in links}
        for att in atts:
            if not self.service.locks.busy(att.key):
                await self._attachment(att, by_name.get(att.host_ifname), report)
        known = {att.host_ifname for att in atts}
        for link in links:
            if link.host_ifname not in known:
                await self._orphan(link, report)
        report.cooling_purged = await p.store.transact(lambda q: q.purge_cooling(now=p.clock()))
        await self.blocks.sync_routes()
        await self.blocks.tick()
        self._count(report)
        p.metrics.reconcile_seconds.observe(max(p.clock() - started, 0.0))
        self.last = report
        return report

    async def _attachment(self, att: Attachment, link: PodLink | None, report: Report) -> None:
        p = self.p
        if att.state is State.WIRED and link is not None:
            if att.missing_since is not None:
                await p.store.transact(lambda q: q.update_attachment(att.key, missing_since=None))
            for ip in set(att.ips) - set(link.addresses):
                await p.kernel(
                    p.netlink.ensure_host_route, host_ifname=link.host_ifname, address=ip
                )
                report.routes_repaired += 1
                log.warning("repaired a host route", extra=_context(att) | {"ip": str(ip)})
            return
        now = p.clock()
        since = att.missing_since if att.missing_since is not None else now
        if att.missing_since is None:
            await p.store.transact(lambda q: q.update_attachment(att.key, missing_since=now))
            report.marked_missing += 1
        if now - since < p.settings.release_grace:
            return
        async with self.service.locks.hold(att.key):
            current = await p.store.transact(lambda q: q.attachment(att.key))
            if current is None or current.state is not att.state:
                return
            why = "container gone" if att.state is State.WIRED else "ADD never completed"
            log.warning(
                "releasing an attachment whose container is gone",
                extra=_context(att) | {"reason": why, "missing_since": since},
            )
            await p.kernel(p.netlink.unwire_pod, att.host_ifname)
            await self.service.release(att.key, reason=f"reconcile: {why}")
            report.released += 1

    async def _orphan(self, link: PodLink, report: Report) -> None:
        key = Key.from_alias(link.alias)
        if key is not None and self.service.locks.busy(key):
            return
        if link.host_ifname in self.service.reaper.pending():
            return
        log.warning(
            "deleting an orphaned host veth",
            extra={
                "link": link.host_ifname,
                "alias": link.alias,
                "ips": [str(a) for a in link.addresses],
            },
        )
        await self.p.kernel(self.p.netlink.unwire_pod, link.host_ifname)
        report.orphans_deleted += 1

    def _count(self, report: Report) -> None:
        actions = self.p.metrics.reconcile_actions
        actions.labels("route_repaired").inc(report.routes_repaired)
        actions.labels("released").inc(report.released)
        actions.labels("orphan_deleted").inc(report.orphans_deleted)


def _context(att: Attachment) -> dict[str, object]:
    return {
        "network": att.key.network,
        "container_id": att.key.container_id,
        "ifname": att.key.ifname,
        "pod_namespace": att.pod.namespace,
        "pod_name": att.pod.name,
        "ips": [str(ip) for ip in att.ips],
    }


async def adopt_from_kernel(parts: Parts) -> tuple[int, int]:
    """Rebuild blocks and attachments from the kernel; returns (blocks, attachments)."""
    p = parts
    blackholes = await p.kernel(p.netlink.list_blackholes)
    links = await p.kernel(p.netlink.list_pod_links)
    if not blackholes and not links:
        return 0, 0
    pools = await _pools_of(p, blackholes)
    now = p.clock()

    def tx(q: Queries) -> tuple[int, int]:
        adopted_blocks = 0
        for cidr, pool in pools.items():
            q.add_block(cidr=cidr, pool=pool, now=now)
            adopted_blocks += 1
        adopted = 0
        for link in links:
            key = Key.from_alias(link.alias)
            addresses = [
                Address(ip=ip, pool=pools[c], block=c)
                for ip in link.addresses
                for c in pools
                if ip in c
            ]
            if key is None or not addresses or q.attachment(key) is not None:
                continue
            q.insert_attachment(
                Attachment(
                    key=key,
                    netns="",
                    host_ifname=link.host_ifname,
                    addresses=tuple(addresses),
                    state=State.WIRED,
                    created_at=now,
                    mtu=link.mtu,
                    host_mac=link.mac,
                )
            )
            adopted += 1
        return adopted_blocks, adopted

    found = await p.store.transact(tx)
    log.warning(
        "rebuilt the state from the kernel", extra={"blocks": found[0], "attachments": found[1]}
    )
    return found


async def _pools_of(parts: Parts, blackholes: list[IPNetwork]) -> dict[IPNetwork, str]:
    """The pool of each adopted block as IPAM says, or ``""`` (unknown) when it cannot.

    A block of unknown pool serves no new allocation; it is returned once empty.
    """
    named: dict[IPNetwork, str] = {}
    try:
        for block in await parts.ipam.held_blocks():
            named[block.cidr] = block.pool
    except IpamError as exc:
        log.warning("cannot ask IPAM for the node's blocks", extra={"error": str(exc)})
    return {c: named.get(c, "") for c in blackholes}
