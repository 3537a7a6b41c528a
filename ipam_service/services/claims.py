"""Claiming and releasing blocks: topology-aware, idempotent by request id, race-safe.

Claims of one pool are serialised with a row lock on the pool, so the search for a
free block sees every committed claim; the exclusion constraint on ``blocks`` is
the final word should anything else ever write a block.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ipam_service import allocator, pagination
from ipam_service.errors import (
    BlockInUseConflict,
    BlockNotFound,
    Conflict,
    NodeNotFound,
    PoolExhausted,
    RequestIdConflict,
)
from ipam_service.models import Block, Node, Pool, PoolCidr, PoolSubnet
from ipam_service.repositories.blocks import BlockRepository
from ipam_service.repositories.nodes import NodeRepository
from ipam_service.repositories.pools import PoolRepository
from ipam_service.schemas import BlockClaim, BlockRead, IPAddress, IPNetwork, Page
from ipam_service.services.dberrors import constraint_of
from ipam_service.services.pooldefs import address
from ipam_service.services.pools import PoolService


@dataclass(frozen=True)
class SearchRange:
    """One place to look for a block: a rack subnet, or a pool CIDR minus all subnets."""

    model: type[PoolCidr] | type[PoolSubnet]
    row_id: int
    cidr: IPNetwork
    hint: int | None
    excluded: tuple[allocator.Interval, ...]


def plan(
    node: Node,
    cidrs: Sequence[PoolCidr],
    subnets: Sequence[PoolSubnet],
    reserved: Sequence[allocator.Interval],
) -> list[SearchRange]:
    """The node's own topology subnets first, then the pool's shared space."""
    mine = [s for s in subnets if s.node_selector.items() <= node.labels.items()]
    every_subnet = tuple(allocator.bounds(s.cidr) for s in subnets)
    ranges = [
        SearchRange(PoolSubnet, s.id, s.cidr, _int(s.next_hint), tuple(reserved)) for s in mine
    ]
    ranges += [
        SearchRange(PoolCidr, c.id, c.cidr, _int(c.next_hint), tuple(reserved) + every_subnet)
        for c in cidrs
    ]
    return ranges


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def block_read(block: Block, *, pool: str, node: str) -> BlockRead:
    return BlockRead(
        cidr=block.cidr,
        pool=pool,
        node=node,
        request_id=block.request_id,
        claimed_at=block.claimed_at,
        released_at=block.released_at,
        release_reason=block.release_reason,
        state="held" if block.released_at is None else "released",
    )


class ClaimService:
    def __init__(self, session: AsyncSession, *, scan_page: int, max_pages: int = 1 << 20) -> None:
        self.session = session
        self.pools = PoolRepository(session)
        self.nodes = NodeRepository(session)
        self.blocks = BlockRepository(session)
        self.scan_page = scan_page
        self.max_pages = max_pages

    async def claim(self, node_name: str, req: BlockClaim) -> tuple[BlockRead, bool]:
        """Return (block, created). A known request id returns its first answer.

        Everything that a stale read cannot make wrong happens before the pool lock:
        the search hints are lower bounds, so an older hint only means a longer scan.
        Under the lock: one page read per range, one insert, the commit.
        """
        node = await self._node(node_name)
        pool = await PoolService(self.session).get_row(req.pool)
        request_id = req.request_id or uuid.uuid4().hex
        known = await self.blocks.by_request(node.id, request_id)
        if known is not None:
            return self._replay(known, pool=pool, node=node), False
        ranges = await self._plan(pool, node)
        await self.pools.lock(pool.id)
        found = await self._search(pool, node, ranges)
        block = Block(pool_id=pool.id, node_id=node.id, cidr=found.cidr, request_id=request_id)
        try:
            inserted = await self.blocks.insert_claim(
                block,
                hint_table=found.model.__tablename__,
                hint_row=found.row_id,
                hint=found.hint,
            )
        except IntegrityError as exc:
            raise Conflict(
                f"the database refused block {found.cidr} ({constraint_of(exc)})", field="pool"
            ) from exc
        if inserted is None:
            known = await self.blocks.by_request(node.id, request_id)
            assert known is not None
            return self._replay(known, pool=pool, node=node), False
        return block_read(inserted, pool=pool.name, node=node.name), True

    @staticmethod
    def _replay(known: Block, *, pool: Pool, node: Node) -> BlockRead:
        if known.pool_id != pool.id:
            raise RequestIdConflict(
                f"request id {known.request_id!r} was used for another pool", field="request_id"
            )
        return block_read(known, pool=pool.name, node=node.name)

    async def release(
        self, node_name: str, cidr: IPNetwork, *, force: bool, reason: str
    ) -> BlockRead:
        node = await self._node(node_name)
        block = await self.blocks.held(node.id, cidr)
        if block is None:
            raise BlockNotFound(f"node {node_name!r} holds no block {cidr}", field="cidr")
        await self.pools.lock(block.pool_id)
        owners = await self.blocks.live_owners(block.id)
        if owners and not force:
            raise BlockInUseConflict(
                f"{owners} address(es) in {cidr} still have live owners; retry with force=true",
                field="cidr",
            )
        now = await self.nodes.now()
        await self.blocks.close_leases(
            block_ids=[block.id], at=now, reason=f"block released: {reason}"
        )
        await self.blocks.release(block, at=now, reason=reason)
        await self.pools.lower_hints(block.pool_id, cidr)
        pool = await self.session.get_one(Pool, block.pool_id)
        return block_read(block, pool=pool.name, node=node.name)

    async def page(
        self,
        *,
        after_id: int | None,
        limit: int,
        pool: str | None,
        node: str | None,
        state: str | None,
    ) -> Page[BlockRead]:
        rows = await self.blocks.page(
            after_id=after_id, limit=limit, pool=pool, node=node, state=state
        )
        items = [block_read(b, pool=p, node=n) for b, p, n in rows]
        cursor = pagination.encode(rows[-1][0].id) if len(rows) == limit else None
        return Page[BlockRead](items=items, next_cursor=cursor)

    async def _node(self, name: str) -> Node:
        node = await self.nodes.get(name)
        if node is None:
            raise NodeNotFound(f"node {name!r} is not registered", field="name")
        return node

    async def _plan(self, pool: Pool, node: Node) -> list[SearchRange]:
        cidrs = await self.pools.cidrs([pool.id])
        subnets = await self.pools.subnets([pool.id])
        reserved = [(int(r.first), int(r.last)) for r in await self.pools.reservations([pool.id])]
        return plan(node, cidrs, subnets, reserved)

    async def _search(self, pool: Pool, node: Node, ranges: Sequence[SearchRange]) -> _Found:
        size = allocator.block_size(family=pool.family, prefixlen=pool.block_prefixlen)
        for rng in ranges:
            start = await self._scan(pool, rng, size)
            if start is not None:
                net = allocator.to_network(
                    start, family=pool.family, prefixlen=pool.block_prefixlen
                )
                return _Found(net, rng.model, rng.row_id, address(start, pool.family))
        raise PoolExhausted(
            f"pool {pool.name!r} has no free /{pool.block_prefixlen} block for node "
            f"{node.name!r} (searched {', '.join(str(r.cidr) for r in ranges)})",
            field="pool",
        )

    async def _scan(self, pool: Pool, rng: SearchRange, size: int) -> int | None:
        lo, hi = allocator.bounds(rng.cidr)
        if hi - lo + 1 < size:
            return None
        start = lo if rng.hint is None else max(lo, rng.hint)
        last_block = str(
            allocator.to_network(hi - size + 1, family=pool.family, prefixlen=pool.block_prefixlen)
        )
        for _ in range(self.max_pages):
            first = allocator.align_up(start, size)
            if first + size - 1 > hi:
                return None
            held = await self.pools.held_page(
                pool_id=pool.id,
                first_block=str(
                    allocator.to_network(first, family=pool.family, prefixlen=pool.block_prefixlen)
                ),
                last_block=last_block,
                limit=self.scan_page,
            )
            occupied = sorted(
                [allocator.bounds(h) for h in held] + [x for x in rng.excluded if x[1] >= first]
            )
            horizon = int(held[-1].network_address) if len(held) == self.scan_page else None
            result = allocator.scan(
                span=(lo, hi), size=size, start=first, occupied=occupied, horizon=horizon
            )
            if result.found is not None or result.resume_at is None:
                return result.found
            start = result.resume_at
        return None


@dataclass(frozen=True)
class _Found:
    cidr: IPNetwork
    model: type[PoolCidr] | type[PoolSubnet]
    row_id: int
    hint: IPAddress
