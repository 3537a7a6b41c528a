"""The node's blocks: registration, claims, warm spare, returns, blackholes, announcements.

A claimed block becomes usable only after four steps, in this order:

1. its claim is recorded as *pending* (request id) before the POST, so a crash
   between IPAM's answer and our record is repaired by re-posting the same request
   id, which IPAM answers with the same block;
2. IPAM's answer (the block) is written into the pending claim: from here on the
   block is the node's, blackholed and announced by every full sync;
3. the blackhole route for it is installed, then the announcer announces it: the
   fabric never sends us traffic for a block we would loop back;
4. the block row is written; from then on the allocator may hand out addresses.

A claim that fails part-way (IPAM down, ExaBGP not acknowledging in time) stays
pending, and the next claim of its pool finishes it instead of starting another:
the retried ADD, the next reconcile pass or the next start-up, whichever comes
first. A claim whose block is known needs no IPAM to finish. So no block is held
at IPAM that the node does not know of, and no blackhole or announcement of one
is removed by a reconcile pass in between.

While the node is drained (:attr:`BlockManager.drained`) no claim starts or finishes.

A block goes back to IPAM after it stayed empty for ``block_hold_time`` (and the
pool keeps its warm spare without it): it is marked *releasing* in the same
transaction that checks it is still empty, withdrawn, released at IPAM once the
outbox has delivered every ledger event, and only then forgotten with its blackhole.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from functools import partial
from typing import Any

from ipam_service.schemas import BlockRead
from node_agent.allocator import BlockPlan, cooling_set, plan_blocks
from node_agent.errors import (
    AgentError,
    DrainedError,
    IpamError,
    IpamNodeNotFound,
    IpamPoolExhausted,
    IpamServerError,
)
from node_agent.parts import Parts
from node_agent.podnet import IPNetwork
from node_agent.queries import Queries
from node_agent.records import PendingClaim

log = logging.getLogger("flatnet.agent.blocks")

CLAIM_RETRIES = 3
"""Further attempts of one claim after IPAM answered 5xx (back-off: ipam_retry_*)."""


class BlockManager:
    def __init__(self, parts: Parts) -> None:
        self.p = parts
        self._claims: dict[str, asyncio.Future[IPNetwork]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._top_up: asyncio.Task[None] | None = None
        self.exhausted: dict[str, str] = {}
        """Pools IPAM said are exhausted for this node, with IPAM's message."""
        self.drained = False
        """The node is drained (routes withdrawn on purpose): no claims until undrained."""

    # -- registration ----------------------------------------------------------------

    async def register(self) -> None:
        """``PUT /v1/nodes/{name}``; raises ``IpamError`` when IPAM does not take it."""
        s = self.p.settings
        spec = s.registration()
        try:
            await self.p.ipam.register(spec)
        except IpamError as exc:
            self._ipam_failed("register", exc)
            raise
        self.p.health.ipam_answered(now=self.p.clock())
        self.p.health.registered = True
        log.info("node registered with IPAM", extra={"ipam": s.ipam_url})

    # -- claims ----------------------------------------------------------------------

    def claim(self, pool: str) -> asyncio.Future[IPNetwork]:
        """A future of the next block of ``pool``; concurrent callers share one claim.

        The claim finishes the pool's oldest pending claim when there is one (a claim
        that failed part-way), else it asks IPAM for a new block.
        """
        running = self._claims.get(pool)
        if running is not None and not running.done():
            return running
        future: asyncio.Future[IPNetwork] = asyncio.get_running_loop().create_future()
        # A background claim nobody waits for must not log "exception never retrieved".
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        if self.drained:
            future.set_exception(DrainedError("the node is drained: no block is claimed"))
            return future
        self._claims[pool] = future
        self._spawn(self._claim_into(pool, future))
        return future

    async def resume_pending(self) -> None:
        """Finish the claims a previous run (or a failed ADD) left pending."""
        for pending in await self.p.store.transact(lambda q: q.pending_claims()):
            await self.claim(pending.pool)

    async def _claim_into(self, pool: str, future: asyncio.Future[IPNetwork]) -> None:
        try:
            cidr = await self._claim(pool)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not future.done():
            future.set_result(cidr)

    async def _claim(self, pool: str) -> IPNetwork:
        p = self.p
        pending = await p.store.transact(
            partial(_pending_claim, pool=pool, node=p.settings.node_name, now=p.clock())
        )
        rid = pending.request_id
        if pending.cidr is None:
            cidr = await self._ask_ipam(pool, rid)
        else:
            cidr = pending.cidr
            log.info("finishing a pending claim", extra={"pool": pool, "block": str(cidr)})
        await p.kernel(p.netlink.ensure_blackhole, cidr)
        await p.announcer.announce(cidr)

        def record(q: Queries) -> None:
            q.add_block(cidr=cidr, pool=pool, now=p.clock())
            q.delete_pending_claim(rid)

        await p.store.transact(record)
        p.metrics.block_claims.labels(pool).inc()
        log.info("block claimed", extra={"pool": pool, "block": str(cidr), "request_id": rid})
        return cidr

    async def _ask_ipam(self, pool: str, request_id: str) -> IPNetwork:
        """POST the claim; record IPAM's answer in the pending claim before anything else."""
        p = self.p
        try:
            block = await self._post_claim(pool, request_id)
        except IpamPoolExhausted as exc:
            self.exhausted[pool] = str(exc)
            await p.store.transact(lambda q: q.delete_pending_claim(request_id))
            raise
        self.exhausted.pop(pool, None)
        await p.store.transact(partial(_set_pending_cidr, request_id=request_id, cidr=block.cidr))
        return block.cidr

    async def _post_claim(self, pool: str, request_id: str) -> BlockRead:
        """POST the claim; register first if IPAM forgot the node, retry a 5xx.

        A 5xx is worth retrying with the same request id (IPAM answers a replay with
        the same block): a database deadlock or a restart inside IPAM is transient.
        """
        delay = self.p.settings.ipam_retry_min
        registered_again = False
        for attempt in range(CLAIM_RETRIES + 1):
            try:
                block = await self.p.ipam.claim_block(pool=pool, request_id=request_id)
            except IpamNodeNotFound:
                if registered_again:
                    raise
                registered_again = True
                await self.register()
                continue
            except IpamServerError as exc:
                self._ipam_failed("claim", exc)
                if attempt == CLAIM_RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.p.settings.ipam_retry_max)
                continue
            except IpamError as exc:
                self._ipam_failed("claim", exc)
                raise
            self.p.health.ipam_answered(now=self.p.clock())
            return block
        raise IpamServerError(f"claim of a {pool!r} block kept failing")

    # -- periodic --------------------------------------------------------------------

    async def plan(self) -> BlockPlan:
        p, s = self.p, self.p.settings
        now = p.clock()

        def read(q: Queries) -> BlockPlan:
            cooling = cooling_set(q.cooling(), now=now)
            return plan_blocks(
                q.block_usage(),
                pools=s.pools,
                cooling=cooling,
                warm_spare=s.warm_spare,
                hold_time=s.block_hold_time,
                now=now,
            )

        return await p.store.transact(read)

    async def tick(self) -> BlockPlan:
        """Keep the warm spare and return blocks that stayed empty long enough."""
        plan = await self.plan()
        for pool, free in plan.free.items():
            self.p.metrics.free_addresses.labels(pool).set(free)
        if not self.drained:
            pending = await self.p.store.transact(lambda q: q.pending_claims())
            for pool in dict.fromkeys(c.pool for c in pending if c.cidr is not None):
                self.claim(pool)  # held at IPAM already: finish it, with or without IPAM
        if self.p.health.registered and not self.drained:
            # Exhausted pools are asked again here, once per reconcile: the network
            # team may have added a CIDR. After ADDs (top_up) they are not.
            for pool in plan.claim:
                self.claim(pool)
        for cidr in plan.release:
            await self._begin_release(cidr)
        await self.finish_releases()
        return plan

    def top_up(self) -> None:
        """Check the warm spare soon, in the background (after an allocation)."""
        if self._top_up is None or self._top_up.done():
            self._top_up = self._spawn(self._check_spare())

    async def _check_spare(self) -> None:
        if not self.p.health.registered or self.drained:
            return
        try:
            plan = await self.plan()
        except AgentError as exc:
            log.warning("warm spare check failed", extra={"error": str(exc)})
            return
        for pool in plan.claim:
            if pool not in self.exhausted:
                self.claim(pool)

    async def _begin_release(self, cidr: IPNetwork) -> None:
        def mark(q: Queries) -> bool:
            if q.block_in_use(cidr):
                return False
            q.set_block_state(cidr, ready=False)
            return True

        if await self.p.store.transact(mark):
            log.info("returning empty block", extra={"block": str(cidr)})

    async def finish_releases(self) -> None:
        """Withdraw, release at IPAM and forget every block marked *releasing*."""
        p = self.p
        blocks, depth = await p.store.transact(lambda q: (q.blocks(), q.outbox_depth()))
        for block in (b for b in blocks if not b.ready):
            await p.announcer.withdraw(block.cidr)
            if depth:
                continue  # IPAM refuses while its ledger shows live owners: send events first
            try:
                await p.ipam.release_block(block.cidr, reason="empty for the hold time")
            except IpamError as exc:
                self._ipam_failed("release", exc)
                continue
            await p.kernel(p.netlink.remove_blackhole, block.cidr)
            await p.store.transact(partial(_delete_block, cidr=block.cidr))
            p.metrics.block_releases.labels(block.pool).inc()
            log.info("block returned", extra={"block": str(block.cidr), "pool": block.pool})

    async def sync_routes(self) -> None:
        """Blackholes for every block the node holds; announcements for all but those
        being returned. A pending claim's block is held (IPAM gave it) and announced:
        its announcement may have timed out, and the speaker keeps trying."""
        blocks, pending = await self.p.store.transact(lambda q: (q.blocks(), q.pending_claims()))
        claimed = [c.cidr for c in pending if c.cidr is not None]
        await self.p.kernel(self.p.netlink.sync_blackholes, [b.cidr for b in blocks] + claimed)
        await self.p.announcer.sync([b.cidr for b in blocks if b.ready] + claimed)

    # -- housekeeping ----------------------------------------------------------------

    def _ipam_failed(self, call: str, exc: Exception) -> None:
        self.p.metrics.ipam_errors.labels(call).inc()
        self.p.health.ipam_failed(message=f"{call}: {exc}", now=self.p.clock())
        log.warning("IPAM call failed", extra={"call": call, "error": str(exc)})

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._claims.values():
            if not future.done():
                future.cancel()


def _delete_block(q: Queries, *, cidr: IPNetwork) -> None:
    q.delete_block(cidr)


def _pending_claim(q: Queries, *, pool: str, node: str, now: float) -> PendingClaim:
    """The pool's oldest pending claim (one IPAM answered first), or a new one, recorded
    before anything is sent."""
    found = sorted(q.pending_claims(pool=pool), key=lambda c: c.cidr is None)
    if found:
        return found[0]
    request_id = f"{node}-{uuid.uuid4().hex}"
    q.add_pending_claim(request_id=request_id, pool=pool, now=now)
    return PendingClaim(request_id, pool)


def _set_pending_cidr(q: Queries, *, request_id: str, cidr: IPNetwork) -> None:
    q.set_pending_cidr(request_id, cidr)
