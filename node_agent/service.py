"""The CNI verbs on the agent side: ADD, DEL, CHECK, GC and STATUS.

Each verb holds the lock of its attachment key (never a global lock), so ADDs of
different pods run concurrently; SQLite transactions run one at a time on the
store thread and netlink calls on the kernel thread pool.

ADD, step by step, each undone if a later one fails::

    1. allocate  one address per pool, committed with its ledger events (outbox),
                 not yet flushed to disk (the commit of step 3 flushes both);
                 no free address: wait (claim_timeout) for the block manager's claim
    2. wire      veth pair, addresses, gateways, host routes (Netlink.wire_pod,
                 which undoes its own partial work)
    3. record    state 'wired' with the MACs, in one transaction
    failure after 1: release the addresses (cooldown + release events) and re-raise

A drained node (``flatnet agent drain``) refuses ADD with "try again later" (11) and
answers STATUS not ready: its routes are withdrawn, a new pod would be unreachable.
DEL, CHECK and GC work as usual.

DEL never fails for "not there": no record, no veth and no netns are all success
(CNI-051..053, CNI-130/131).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from functools import partial
from ipaddress import ip_interface

from cni.contract import (
    AddRequest,
    AttachmentKey,
    CheckRequest,
    DelRequest,
    GcRequest,
    IPConfig,
    Route,
    StatusReply,
)
from cni.contract import Attachment as Reply
from node_agent.allocator import block_of, cooling_set, pick_address
from node_agent.blocks import BlockManager
from node_agent.errors import (
    AgentError,
    AttachmentConflict,
    AttachmentNotFound,
    DrainedError,
    IpamError,
    IpamServerError,
    PodCheckError,
    PoolExhausted,
    ShuttingDownError,
    UnknownPoolError,
)
from node_agent.outbox import Outbox
from node_agent.parts import Parts
from node_agent.podnet import validate_ifname
from node_agent.queries import Queries
from node_agent.reaper import Reaper
from node_agent.records import Address, Attachment, Key, State, ledger_event
from node_agent.steps import AsyncKeyedLocks

log = logging.getLogger("flatnet.agent.service")

DRAINED = "the node is drained (its routes are withdrawn): no new pods until it is undrained"
MAX_ALLOCATION_ROUNDS = 1000
"""Bound on allocate-then-wait-for-a-claim rounds of one ADD (``claim_timeout`` ends it first)."""


class AttachmentService:
    def __init__(self, parts: Parts, *, blocks: BlockManager, outbox: Outbox) -> None:
        self.p = parts
        self.blocks = blocks
        self.outbox = outbox
        self.reaper = Reaper(parts)
        self.locks = AsyncKeyedLocks()
        self.stopping = False

    # -- ADD -------------------------------------------------------------------------

    async def add(self, req: AddRequest) -> Reply:
        key = Key.of(req.key)
        validate_ifname(key.ifname)
        pools = self.pools_for(req.pool)
        mtu = req.mtu or self.p.settings.mtu
        host_ifname = self.p.netlink.host_ifname(key.container_id, key.ifname)
        async with self.locks.hold(key):
            if self.stopping:
                raise ShuttingDownError("the node agent is stopping")
            if self.blocks.drained:
                raise DrainedError(DRAINED)
            await self.reaper.settle(host_ifname)
            att = await self._allocate(key, req, pools=pools, host_ifname=host_ifname)
            att = await self._wire(att, netns=req.netns, mtu=mtu)
        self.outbox.poke()
        self.blocks.top_up()
        return self.reply(att)

    def pools_for(self, named: str | None) -> list[str]:
        if named is None:
            return list(self.p.settings.pools)
        pools = [p.strip() for p in named.split(",") if p.strip()]
        allowed = self.p.settings.allowed_pools()
        unknown = [p for p in pools if p not in allowed]
        if not pools or unknown:
            raise UnknownPoolError(f"pool {named!r} is not served by this node (have {allowed})")
        return pools

    async def _allocate(
        self, key: Key, req: AddRequest, *, pools: list[str], host_ifname: str
    ) -> Attachment:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.p.settings.claim_timeout
        for _ in range(MAX_ALLOCATION_ROUNDS):
            now = self.p.clock()
            att = Attachment(
                key=key,
                netns=req.netns,
                host_ifname=host_ifname,
                addresses=(),
                state=State.ALLOCATED,
                created_at=now,
                pod=req.pod,
            )
            try:
                # Not flushed to disk on its own: the "wired" commit, which the
                # answer waits for, flushes it too (nobody hears of it before).
                return await self.p.store.transact(
                    partial(_allocate_tx, att=att, pools=pools, now=now), durable=False
                )
            except PoolExhausted as exc:
                # Many ADDs may wait for the same claim and race for its addresses;
                # the losers wait for the next claim, all within one deadline.
                await self._wait_for_block(exc.pool, deadline=deadline)
        raise PoolExhausted(
            f"no free address in pools {pools} after {MAX_ALLOCATION_ROUNDS} claims"
        )

    async def _wait_for_block(self, pool: str, *, deadline: float) -> None:
        """Wait for a block claim; a 5xx from IPAM is retried until ``deadline``."""
        loop = asyncio.get_running_loop()
        delay = self.p.settings.ipam_retry_min
        failure: Exception = TimeoutError("timed out")
        for _ in range(1000):
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(asyncio.shield(self.blocks.claim(pool)), timeout=left)
                return
            except IpamServerError as exc:
                failure = exc
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
                delay *= 2
            except (IpamError, TimeoutError) as exc:
                failure = exc
                break
        raise PoolExhausted(
            f"pool {pool!r} has no free address on this node and no block could be"
            f" claimed: {failure}",
            pool=pool,
        ) from failure

    async def _wire(self, att: Attachment, *, netns: str, mtu: int) -> Attachment:
        try:
            wiring = await self.p.kernel(
                self.p.netlink.wire_pod,
                netns=netns,
                ifname=att.key.ifname,
                host_ifname=att.host_ifname,
                addresses=att.ips,
                mtu=mtu,
                alias=att.key.alias(),
            )
        except BaseException:
            await asyncio.shield(self.release(att.key, reason="ADD failed"))
            raise
        wired = replace(
            att, state=State.WIRED, mac=wiring.mac, host_mac=wiring.host_mac, mtu=mtu, netns=netns
        )
        await self.p.store.transact(
            lambda q: q.update_attachment(
                att.key, state=State.WIRED, mac=wired.mac, host_mac=wired.host_mac, mtu=mtu,
                netns=netns,
            )
        )  # fmt: skip
        return wired

    def reply(self, att: Attachment) -> Reply:
        gateways = self.p.netlink.gateways
        ips = [
            IPConfig(address=f"{ip}/{ip.max_prefixlen}", gateway=str(gateways.for_address(ip)))
            for ip in att.ips
        ]
        families = sorted({ip.version for ip in att.ips})
        routes = [
            Route(dst="0.0.0.0/0", gw=str(gateways.v4))
            if v == 4
            else Route(dst="::/0", gw=str(gateways.v6))
            for v in families
        ]
        return Reply(
            host_ifname=att.host_ifname,
            host_mac=att.host_mac,
            ifname=att.key.ifname,
            mac=att.mac,
            sandbox=att.netns,
            mtu=att.mtu,
            ips=ips,
            routes=routes,
        )

    # -- release (DEL, GC, reconcile, failed ADD) ------------------------------------

    async def release(self, key: Key, *, reason: str) -> Attachment | None:
        """Forget ``key``'s addresses (cooldown, release events); ``None`` if unknown."""
        now = self.p.clock()
        cooldown = self.p.settings.ip_cooldown

        def tx(q: Queries) -> Attachment | None:
            att = q.attachment(key)
            if att is None:
                return None
            q.delete_attachment(key)
            for address in att.addresses:
                q.cool(address.ip, until=now + cooldown)
                q.enqueue(
                    ledger_event(
                        kind="release", attachment=att, address=address, now=now, reason=reason
                    )
                )
            q.mark_blocks_empty({a.block for a in att.addresses}, now=now)
            return att

        att = await self.p.store.transact(tx)
        if att is not None:
            self.outbox.poke()
        return att

    # -- DEL -------------------------------------------------------------------------

    async def delete(self, req: DelRequest, *, reason: str = "DEL") -> bool:
        """Tear the attachment down; ``True`` if the agent held it."""
        key = Key.of(req.key)
        host_ifname = self.p.netlink.host_ifname(key.container_id, key.ifname)
        nl = self.p.netlink
        async with self.locks.hold(key):
            att = await self.p.store.transact(lambda q: q.attachment(key))
            ips = att.ips if att is not None else ()
            if self.p.settings.defer_link_delete:
                present = await self.p.kernel(nl.remove_host_routes, host_ifname, ips)
                if att is not None:
                    await self.release(key, reason=reason)
                if present:
                    self.reaper.schedule(host_ifname)
            else:
                await self.p.kernel(nl.unwire_pod, host_ifname)
                if att is not None:
                    await self.release(key, reason=reason)
        return att is not None

    # -- CHECK -----------------------------------------------------------------------

    async def check(self, req: CheckRequest) -> None:
        key = Key.of(req.key)
        async with self.locks.hold(key):
            att = await self.p.store.transact(lambda q: q.attachment(key))
            if att is None:
                raise AttachmentNotFound(f"the agent holds no attachment {key}")
            if att.state is not State.WIRED:
                raise PodCheckError(f"attachment {key} never finished its ADD")
            claimed = {ip_interface(a).ip for a in req.ips}
            if claimed != set(att.ips):
                raise PodCheckError(
                    f"prevResult claims {sorted(map(str, claimed))}, the agent holds"
                    f" {sorted(map(str, att.ips))}"
                )
            await self.p.kernel(
                self.p.netlink.check_pod,
                netns=req.netns,
                ifname=key.ifname,
                host_ifname=att.host_ifname,
                addresses=att.ips,
            )

    # -- GC --------------------------------------------------------------------------

    async def gc(self, req: GcRequest) -> list[str]:
        """Release every attachment of ``req.network`` outside ``req.valid`` (CNI-102)."""
        valid = {Key.of(k) for k in req.valid}
        held = await self.p.store.transact(lambda q: q.attachments(network=req.network))
        released: list[str] = []
        failures: list[str] = []
        for att in held:
            if att.key in valid:
                continue
            wire_key = AttachmentKey(att.key.network, att.key.container_id, att.key.ifname)
            try:
                await self.delete(DelRequest(key=wire_key), reason="GC")
            except AgentError as exc:
                failures.append(f"{att.key}: {exc}")
                continue
            released.append(str(att.key))
        if failures:
            raise AgentError(f"GC released {len(released)}, failed on: {'; '.join(failures)}")
        return released

    # -- STATUS ----------------------------------------------------------------------

    async def status(self) -> StatusReply:
        """Ready when every default pool has a free address or IPAM can give a block."""
        if self.stopping:
            return StatusReply(ready=False, reason="the node agent is stopping")
        if self.blocks.drained:
            return StatusReply(ready=False, reason=DRAINED)
        plan = await self.blocks.plan()
        health = self.p.health
        problems = []
        for pool in self.p.settings.pools:
            if plan.free.get(pool, 0) > 0:
                continue
            if pool in self.blocks.exhausted:
                problems.append(f"pool {pool!r} is exhausted at IPAM")
            elif not (health.ipam_ok and health.registered):
                problems.append(f"pool {pool!r} has no free address and IPAM is unreachable")
        return StatusReply(ready=not problems, reason="; ".join(problems))


def _allocate_tx(q: Queries, *, att: Attachment, pools: list[str], now: float) -> Attachment:
    """Pick one address per pool and commit them with their ledger events.

    An attachment already recorded is returned as it is when its ADD never finished
    (the agent died before wiring: the retry rewires the same addresses), and
    refused when it is wired (CNI-041).
    """
    existing = q.attachment(att.key)
    if existing is not None:
        if existing.state is State.WIRED:
            raise AttachmentConflict(
                f"attachment {att.key} is already wired (host veth {existing.host_ifname});"
                " DEL it before adding it again"
            )
        return existing
    blocks = q.block_usage()
    cooling = cooling_set(q.cooling(), now=now)
    addresses: list[Address] = []
    for pool in pools:
        ip = pick_address(blocks, pool=pool, cooling=cooling | {a.ip for a in addresses})
        block = None if ip is None else block_of(ip, blocks)
        if ip is None or block is None:
            raise PoolExhausted(f"no free address in pool {pool!r} on this node", pool=pool)
        addresses.append(Address(ip=ip, pool=pool, block=block.cidr))
    allocated = replace(att, addresses=tuple(addresses))
    q.insert_attachment(allocated)
    for address in addresses:
        q.enqueue(ledger_event(kind="allocate", attachment=allocated, address=address, now=now))
    return allocated
